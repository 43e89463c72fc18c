package tests

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessStartup checks how 'dispatcher serve' ends when it never gets
// ready: a failed start (the health address taken) exits 1 naming the
// cause, while SIGTERM during the wait for an unreachable NATS server is a
// clean stop, exit 0, not an error.
func TestProcessStartup(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)

	t.Run("health address in use", func(t *testing.T) {
		t.Parallel()
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { taken.Close() })
		cfg := testenv.WriteConfig(t, testenv.Config("nats://"+testenv.RefusedAddr(t),
			testenv.M{"http": testenv.M{"listen": taken.Addr().String()}},
			testenv.Targets(testenv.M{"a": testenv.Target("http://" + testenv.RefusedAddr(t))})))
		p := testenv.StartProcess(t, bin, "serve", "--config", cfg)
		if code := p.Wait(t, 30*time.Second); code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		if s := p.Stderr(); !strings.Contains(s, `"msg":"startup failed"`) || !strings.Contains(s, "address already in use") {
			t.Errorf("stderr has no startup failure naming the address in use:\n%s", s)
		}
	})

	t.Run("SIGTERM while NATS is unreachable", func(t *testing.T) {
		t.Parallel()
		cfg := testenv.WriteConfig(t, testenv.Config("nats://"+testenv.RefusedAddr(t),
			testenv.Targets(testenv.M{"a": testenv.Target("http://" + testenv.RefusedAddr(t))})))
		p := testenv.StartProcess(t, bin, "serve", "--config", cfg)
		p.WaitLog(t, `"msg":"NATS not reachable; retrying"`, 30*time.Second)
		p.Terminate(t)
		if code := p.Wait(t, 15*time.Second); code != 0 {
			t.Errorf("exit status %d after SIGTERM while waiting for NATS, want 0", code)
		}
		if strings.Contains(p.Stderr(), `"level":"error"`) {
			t.Errorf("an error was logged for a requested stop:\n%s", p.Stderr())
		}
	})
}
