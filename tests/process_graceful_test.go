package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessGracefulShutdown checks SIGTERM: the calls in flight finish
// (the target sees no client go away), the process exits 0 within
// shutdown_timeout, and the jobs it had not started are delivered after a
// restart.
func TestProcessGracefulShutdown(t *testing.T) {
	t.Parallel()
	const jobs = 20
	bin := testenv.Binary(t)
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Sleep(time.Second, testenv.OK()))
	cfg := testenv.WriteConfig(t, b.Config(
		testenv.M{"shutdown_timeout": "5s"},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{"concurrency": 4})}),
	))

	first := testenv.StartProcess(t, bin, "serve", "--config", cfg)
	first.WaitReady(t)
	msgs := make([]testenv.Msg, jobs)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("gr-%02d", i)})
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return sink.InFlight() == 4, fmt.Sprintf("%d calls in flight, want 4", sink.InFlight())
	})
	inFlight := map[string]bool{}
	for _, c := range sink.Calls() {
		if c.Finished.IsZero() {
			inFlight[c.Key] = true
		}
	}
	sigterm := time.Now()
	first.Terminate(t)
	code := first.Wait(t, 15*time.Second)
	took := time.Since(sigterm)
	t.Logf("exited %d, %s after SIGTERM", code, took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if took > 5*time.Second {
		t.Errorf("exited %s after SIGTERM, want within shutdown_timeout (5s)", took)
	}
	for _, c := range sink.Calls() {
		if inFlight[c.Key] && c.N == 1 && (c.Status != 200 || c.ClientGone) {
			t.Errorf("%s, in flight at SIGTERM: status %d, client gone %v; want 200 with the client still there", c.Key, c.Status, c.ClientGone)
		}
	}
	if len(inFlight) != 4 {
		t.Errorf("%d calls in flight at SIGTERM, want 4", len(inFlight))
	}

	second := testenv.StartProcess(t, bin, "serve", "--config", cfg)
	second.WaitReady(t)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		n := len(sink.Answered(200))
		return n >= jobs, fmt.Sprintf("%d of %d jobs delivered", n, jobs)
	})
	second.Terminate(t)
	if code := second.Wait(t, 15*time.Second); code != 0 {
		t.Errorf("second process: exit status %d, want 0", code)
	}
}
