package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
	"github.com/jetdispatch/dispatcher/worker"
)

// TestRetryBudget keeps the retries of a target in a full outage within
// retry.budget_ratio of its calls (with the floor of RetryBudgetFloor per
// window); the retries over budget are postponed, not dropped.
func TestRetryBudget(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Status(503))
	svc := testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"concurrency": 4,
		"retry":       testenv.M{"max_attempts": 100, "initial_interval": "100ms", "multiplier": 1, "budget_ratio": 0.2},
	})})))

	const n = 50
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("bud-%02d", i)})
	}
	b.PublishMany(t, msgs)
	// Without a budget 50 jobs retried every 100ms make ~500 calls a
	// second, every minute; wait until the budget postponed most jobs.
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		c := strings.Count(svc.Logs.String(), "retry postponed")
		return c >= n, fmt.Sprintf("%d retries postponed", c)
	})
	calls := sink.Calls()
	retries := 0
	for _, c := range calls {
		if c.N > 1 {
			retries++
		}
	}
	// retries <= max(floor, 0.2 * (first calls + retries)); a call or two
	// may have been under way when the calls were read.
	first := len(calls) - retries
	if limit := max(worker.RetryBudgetFloor, int(0.2*float64(len(calls)))) + 8; retries > limit {
		t.Errorf("%d retries for %d first calls, want at most %d (budget 0.2 of all calls, floor %d)", retries, first, limit, worker.RetryBudgetFloor)
	}
	if first != n {
		t.Errorf("%d first calls, want %d", first, n)
	}
	if dls := testenv.DeadLetters(t, b.JS, "a"); len(dls) != 0 {
		t.Errorf("%d dead letters: a postponed retry was dropped or counted", len(dls))
	}
	t.Logf("full outage: %d first calls, %d retries; %d postponements logged", first, retries, strings.Count(svc.Logs.String(), "retry postponed"))
}

// TestRateLimit keeps the calls to a target at rate_limit.per_second.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"concurrency": 8,
		"rate_limit":  testenv.M{"per_second": 20, "burst": 1},
	})})))
	const n = 61
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("rl-%02d", i), ReplyTo: "app.results"})
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return results.Distinct() >= n, fmt.Sprintf("%d of %d results", results.Distinct(), n)
	})
	calls := sink.Calls()
	if len(calls) != n {
		t.Fatalf("%d calls, want %d", len(calls), n)
	}
	span := calls[n-1].Arrived.Sub(calls[0].Arrived)
	rate := float64(n-1) / span.Seconds()
	if rate < 18 || rate > 22 {
		t.Errorf("%.1f calls/s over %s, want 20 ± 10%%", rate, span)
	}
	t.Logf("%d calls in %s: %.2f calls/s (limit 20)", n, span.Round(time.Millisecond), rate)
}
