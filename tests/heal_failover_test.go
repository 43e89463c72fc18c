package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestFailover sends a target's calls to its backup endpoint while the
// primary's breaker is open, and back to the primary once a half-open probe
// there succeeded; nothing goes to fallback while the backup is closed.
func TestFailover(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	primary, backup := testenv.NewSink(t), testenv.NewSink(t)
	primary.SetBehaviour(testenv.Status(503))
	results := testenv.Results(t, b.NC, "app.results")
	svc := testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.M{
		"endpoints":   []string{primary.URL, backup.URL},
		"concurrency": 2,
		"retry":       testenv.M{"max_attempts": 5, "initial_interval": "100ms"},
		"breaker":     testenv.M{"consecutive_failures": 3, "open_timeout": "1s"},
	}})))

	publish := func(prefix string, n int) {
		msgs := make([]testenv.Msg, n)
		for i := range msgs {
			msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("%s-%02d", prefix, i), ReplyTo: "app.results"})
		}
		b.PublishMany(t, msgs)
	}
	publish("down", 20)
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return results.Distinct() >= 20, fmt.Sprintf("%d of 20 results", results.Distinct())
	})
	for _, r := range results.All() {
		if r.Outcome != schemas.OutcomeDelivered {
			t.Errorf("job %s: %s, want delivered by the backup", r.JobID, r.Outcome)
		}
	}
	if n := len(primary.Answered(503)); n > 6 {
		t.Errorf("%d jobs met the failing primary, want at most 6 (3 trips, a probe or two)", n)
	}
	if !strings.Contains(svc.Logs.String(), `"msg":"endpoint switched"`) {
		t.Error("no \"endpoint switched\" log")
	}

	// The primary recovers: after open_timeout a probe closes its breaker
	// and calls return to it.
	primary.SetBehaviour(testenv.OK())
	start := primary.Count()
	for round := 0; ; round++ {
		publish(fmt.Sprintf("up%d", round), 5)
		want := 20 + 5*(round+1)
		testenv.Eventually(t, 15*time.Second, func() (bool, string) {
			return results.Distinct() >= want, fmt.Sprintf("%d of %d results", results.Distinct(), want)
		})
		if primary.Count()-start >= 5 {
			break
		}
		if round == 50 {
			t.Fatal("calls never returned to the primary")
		}
	}
	backupCalls := backup.Count()
	publish("back", 10)
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return len(results.ByID("back-09")) == 1, "jobs after the return not done"
	})
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		n := 0
		for i := range 10 {
			n += len(results.ByID(fmt.Sprintf("back-%02d", i)))
		}
		return n == 10, fmt.Sprintf("%d of 10 results", n)
	})
	if c := backup.Count() - backupCalls; c != 0 {
		t.Errorf("%d calls went to the backup after the primary recovered", c)
	}
	if fbs := testenv.Fallbacks(t, b.JS, "a"); len(fbs) != 0 {
		t.Errorf("%d fallback records, want none (the backup was up)", len(fbs))
	}
}
