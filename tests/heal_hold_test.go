package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestHold pauses the consumer of a target with when_open: hold while its
// breaker is open: no call is made, nothing goes to fallback or dead
// letters, lag shows the target held, and every job is delivered after.
func TestHold(t *testing.T) {
	t.Parallel()
	b, sink, results, cfg := failingTarget(t, testenv.M{
		"concurrency": 2,
		"retry":       testenv.M{"max_attempts": 10, "initial_interval": "100ms", "multiplier": 1},
		"breaker":     testenv.M{"consecutive_failures": 3, "open_timeout": "2s", "when_open": "hold"},
	})
	testenv.RunService(t, cfg)

	const n = 20
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("hold-%02d", i), ReplyTo: "app.results"})
	}
	b.PublishMany(t, msgs)

	// The breaker trips on the third failure; the consumer pauses.
	var held *dispatcher.TargetLag
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		lag, err := dispatcher.ReadLag(context.Background(), b.JS, schemas.Topology{Prefix: testenv.Prefix}, dispatcher.LagSettings{})
		if err != nil {
			return false, err.Error()
		}
		for _, tl := range lag.Targets {
			if tl.Target == "a" && tl.Paused {
				held = &tl
				return true, ""
			}
		}
		return false, "target a not held"
	})
	if held.PausedUntil == nil {
		t.Fatal("held target without paused_until")
	}
	pausedAt := time.Now()
	callsAtPause := sink.Count()
	sink.SetBehaviour(testenv.OK())
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return results.Distinct() >= n, fmt.Sprintf("%d of %d results", results.Distinct(), n)
	})
	for _, r := range results.All() {
		if r.Outcome != schemas.OutcomeDelivered {
			t.Errorf("job %s: %s, want delivered", r.JobID, r.Outcome)
		}
	}
	// No call between the pause and its end (a little slack for calls
	// already under way when the breaker opened).
	for _, c := range sink.Calls()[callsAtPause:] {
		if c.Arrived.Before(held.PausedUntil.Add(-100*time.Millisecond)) && c.Arrived.After(pausedAt) {
			t.Errorf("a call arrived at %s, while held until %s", c.Arrived.Format(time.StampMilli), held.PausedUntil.Format(time.StampMilli))
		}
	}
	if c := callsAtPause; c > 4 {
		t.Errorf("%d calls before the hold, want at most 4 (3 trips + one in flight)", c)
	}
	if fbs := testenv.Fallbacks(t, b.JS, "a"); len(fbs) != 0 {
		t.Errorf("%d fallback records in hold mode, want none", len(fbs))
	}
	if dls := testenv.DeadLetters(t, b.JS, "a"); len(dls) != 0 {
		t.Errorf("%d dead letters in hold mode, want none", len(dls))
	}
}
