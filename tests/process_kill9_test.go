package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessKill9 checks at-least-once delivery across a crash: `dispatcher
// serve` is killed with SIGKILL mid-flight and restarted; every job is
// delivered at least once and nothing is dead-lettered.
func TestProcessKill9(t *testing.T) {
	t.Parallel()
	const jobs = 1000
	bin := testenv.Binary(t)
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Sleep(10*time.Millisecond, testenv.OK()))
	// total 1s keeps the consumer's AckWait (and so the redelivery of what
	// the killed process held) short.
	cfg := testenv.WriteConfig(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"timeouts": testenv.M{"total": "1s", "response_header": "1s"},
	})})))

	first := testenv.StartProcess(t, bin, "serve", "--config", cfg)
	first.WaitReady(t)
	msgs := make([]testenv.Msg, jobs)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("k9-%04d", i)})
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		n := len(sink.Answered(200))
		return n >= 200, fmt.Sprintf("%d delivered before the kill, want 200", n)
	})
	first.Kill9(t)
	first.Wait(t, 10*time.Second)
	before := len(sink.Answered(200))
	if before >= jobs {
		t.Fatalf("all %d jobs were delivered before the kill; the check is void", jobs)
	}

	second := testenv.StartProcess(t, bin, "serve", "--config", cfg)
	second.WaitReady(t)
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		n := len(sink.Answered(200))
		return n >= jobs, fmt.Sprintf("%d of %d jobs delivered", n, jobs)
	})
	t.Logf("%d delivered before the kill; %d calls in all for %d jobs", before, sink.Count(), jobs)
	if n := testenv.CountMsgs(t, b.JS, testenv.DLQStream, testenv.Prefix+".dlq.>"); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
	second.Terminate(t)
	if code := second.Wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}
