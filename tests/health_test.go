package tests

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestHealth checks /healthz and /readyz: ready once running, not ready
// (503 with a reason) while NATS is away, ready again once it is back.
func TestHealth(t *testing.T) {
	t.Parallel()
	port, dir := testenv.FreePort(t), t.TempDir()
	srv := testenv.NATSAt(t, port, dir)
	sink := testenv.NewSink(t)
	svc := testenv.RunService(t, testenv.Config(srv.ClientURL(), testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)})))
	addr := svc.HTTPAddr()

	if code, body, err := testenv.Get(addr, "/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz: %d %q %v, want 200", code, body, err)
	}
	testenv.Eventually(t, 5*time.Second, testenv.ReadyCond(addr))

	srv.Shutdown()
	srv.WaitForShutdown()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		code, body, err := testenv.Get(addr, "/readyz")
		return code == http.StatusServiceUnavailable && len(body) > 0, fmt.Sprintf("/readyz with NATS down: %d %q %v", code, body, err)
	})
	if code, _, err := testenv.Get(addr, "/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz with NATS down: %d %v, want 200 (the process runs)", code, err)
	}

	testenv.NATSAt(t, port, dir)
	testenv.Eventually(t, 10*time.Second, testenv.ReadyCond(addr))
	svc.Stop(t) // while the new server runs (cleanups run in reverse)
}
