package tests

import (
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestShutdownWhileNATSDown checks that a shutdown stays within
// shutdown_timeout when the NATS server is gone: nothing may wait on NATS
// beyond the budget.
func TestShutdownWhileNATSDown(t *testing.T) {
	t.Parallel()
	srv := testenv.NATS(t)
	_, js := testenv.Connect(t, srv.ClientURL())
	sink := testenv.NewSink(t)
	svc := testenv.RunService(t, testenv.Config(srv.ClientURL(),
		testenv.M{"shutdown_timeout": "2s"},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)})))
	testenv.Publish(t, js, testenv.JobMsg("a", schemas.Job{ID: "down-1"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return sink.Count() == 1, "waiting for the call" })

	srv.Shutdown()
	srv.WaitForShutdown()
	start := time.Now()
	svc.Stop(t)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Run returned %s after cancel with NATS down, want within shutdown_timeout (2s) plus 1s", took.Round(time.Millisecond))
	}
}
