package tests

import (
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestRetryThenSuccess checks exponential backoff between attempts and that
// the attempts are counted across retries.
func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.FailFirst(2, 503))
	results := testenv.Results(t, b.NC, "app.results.retry")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"retry": testenv.M{"max_attempts": 5, "initial_interval": "200ms", "multiplier": 2, "max_interval": "5s"},
	})})))

	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "retry-1", ReplyTo: "app.results.retry"}))
	testenv.Eventually(t, 15*time.Second, func() (bool, string) { return results.Len() >= 1, "waiting for the result" })

	calls := sink.ByKey()["retry-1"]
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3 (two 503s, then 200)", len(calls))
	}
	gap1 := calls[1].Arrived.Sub(calls[0].Finished)
	gap2 := calls[2].Arrived.Sub(calls[1].Finished)
	t.Logf("gaps: %s, %s", gap1, gap2)
	if gap1 < 150*time.Millisecond {
		t.Errorf("first retry after %s, want >= 150ms (initial_interval 200ms)", gap1)
	}
	if gap2 < 300*time.Millisecond {
		t.Errorf("second retry after %s, want >= 300ms (200ms * multiplier 2)", gap2)
	}
	if gap2 <= gap1 {
		t.Errorf("second gap %s not longer than the first %s", gap2, gap1)
	}
	r := results.ByID("retry-1")[0]
	if r.Outcome != schemas.OutcomeDelivered || r.Status != 200 || r.Attempts != 3 {
		t.Errorf("result %+v, want delivered, 200, attempts 3", r)
	}
}
