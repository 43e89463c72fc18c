package tests

import (
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestRetryAfter checks that a Retry-After header sets the delay before the
// next attempt, capped by max_retry_after.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status, secs  int
		maxRetryAfter string
		min, max      time.Duration
	}{
		{name: "429 Retry-After 1s wins over initial_interval", status: 429, secs: 1, maxRetryAfter: "5m",
			min: 900 * time.Millisecond, max: 5 * time.Second},
		{name: "503 Retry-After 30s capped at 1s", status: 503, secs: 30, maxRetryAfter: "1s",
			min: 900 * time.Millisecond, max: 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := testenv.NewBroker(t)
			sink := testenv.NewSink(t)
			sink.SetBehaviour(testenv.RetryAfter(tc.status, tc.secs, 1))
			results := testenv.Results(t, b.NC, "app.results")
			testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
				"retry": testenv.M{"initial_interval": "50ms", "max_retry_after": tc.maxRetryAfter},
			})})))

			b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "ra-1", ReplyTo: "app.results"}))
			testenv.Eventually(t, 20*time.Second, func() (bool, string) { return results.Len() >= 1, "waiting for the result" })

			calls := sink.ByKey()["ra-1"]
			if len(calls) != 2 {
				t.Fatalf("%d calls, want 2", len(calls))
			}
			gap := calls[1].Arrived.Sub(calls[0].Finished)
			t.Logf("retry after %s", gap)
			if gap < tc.min || gap > tc.max {
				t.Errorf("retry after %s, want between %s and %s", gap, tc.min, tc.max)
			}
			if r := results.ByID("ra-1")[0]; r.Outcome != schemas.OutcomeDelivered || r.Attempts != 2 {
				t.Errorf("result %+v, want delivered after 2 attempts", r)
			}
		})
	}
}
