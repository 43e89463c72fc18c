package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestRetriesHoldNoSlot checks that jobs waiting for a retry do not hold
// consumer slots: while 1,000 of them wait, 500 fresh jobs to the same
// target are delivered promptly.
func TestRetriesHoldNoSlot(t *testing.T) {
	t.Parallel()
	const waiting, fresh = 1000, 500
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.ByPath(map[string]testenv.Behaviour{"/wait": testenv.FailFirst(1, 503)}))
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"retry": testenv.M{"initial_interval": "10s"},
	})})))

	msgs := make([]testenv.Msg, waiting)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("wait-%04d", i), Path: "/wait"})
	}
	b.PublishMany(t, msgs)
	testenv.WaitSettled(t, b.JS, "a", waiting, 60*time.Second) // every retry stored
	if d := sink.Distinct(); d != waiting {
		t.Fatalf("%d jobs called, want %d", d, waiting)
	}

	msgs = msgs[:0]
	for i := range fresh {
		msgs = append(msgs, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("fresh-%04d", i), Path: "/fresh"}))
	}
	start := time.Now()
	b.PublishMany(t, msgs)
	freshDone := func() int {
		n := 0
		for _, c := range sink.Calls() {
			if c.Path == "/fresh" && c.Status == 200 {
				n++
			}
		}
		return n
	}
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		n := freshDone()
		return n >= fresh, fmt.Sprintf("%d of %d fresh jobs delivered", n, fresh)
	})
	took := time.Since(start)
	t.Logf("%d fresh jobs delivered in %s", fresh, took.Round(time.Millisecond))
	if took > 8*time.Second {
		t.Errorf("fresh jobs took %s with %d retries waiting, want < 8s", took, waiting)
	}
	// They went through while the retries still waited, not after them.
	end := start.Add(took)
	retried := map[string]bool{}
	for _, c := range sink.Calls() {
		if c.Path == "/wait" && c.N > 1 && c.Arrived.Before(end) {
			retried[c.Key] = true
		}
	}
	if still := waiting - len(retried); still < waiting*9/10 {
		t.Errorf("only %d retries were still waiting when the fresh jobs were done; the check is void", still)
	}
}
