package tests

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestBreaker checks that a tripped breaker sends jobs to the fallback
// stream without calling the target, with the target's preset response in
// the result, and that it lets calls through again after open_timeout.
func TestBreaker(t *testing.T) {
	t.Parallel()
	b, sink, results, cfg := failingTarget(t, testenv.M{
		"concurrency": 1,
		"retry":       testenv.M{"max_attempts": 1},
		"breaker":     testenv.M{"consecutive_failures": 3, "open_timeout": "1s"},
		"fallback":    testenv.M{"status": 202, "body": testenv.M{"queued": true}},
	})
	testenv.RunService(t, cfg)

	const n = 20
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("br-%02d", i), ReplyTo: "app.results"})
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return results.Len() >= n, fmt.Sprintf("%d of %d results", results.Len(), n)
	})
	if c := sink.Count(); c > 4 {
		t.Errorf("%d calls reached the failing target, want at most 4", c)
	}
	fbs := testenv.Fallbacks(t, b.JS, "a")
	dls := testenv.DeadLetters(t, b.JS, "a")
	if len(fbs)+len(dls) != n || len(fbs) < n-4 {
		t.Fatalf("%d fallback records and %d dead letters, want %d in all, at least %d fallbacks", len(fbs), len(dls), n, n-4)
	}
	for _, f := range fbs {
		r := f.Rec
		if r.Reason != schemas.ReasonCircuitOpen || r.BreakerState != "open" || r.Target != "a" || r.Endpoint != sink.URL {
			t.Errorf("fallback record reason %q breaker_state %q target %q endpoint %q, want circuit_open open a %s",
				r.Reason, r.BreakerState, r.Target, r.Endpoint, sink.URL)
		}
		if f.Header.Get("Dispatch-Reason") != "circuit_open" || f.Header.Get("Dispatch-Job-Id") == "" {
			t.Errorf("fallback headers %v", f.Header)
		}
		var job schemas.Job
		if err := json.Unmarshal(r.Job, &job); err != nil || job.ID == "" {
			t.Errorf("fallback record job %s", r.Job)
		}
	}
	fallbackResults := 0
	for _, r := range results.All() {
		if r.Outcome != schemas.OutcomeFallback {
			continue
		}
		fallbackResults++
		if r.Fallback == nil || r.Fallback.Status != 202 || !jsonEqual(r.Fallback.Body, []byte(`{"queued":true}`)) {
			t.Errorf("fallback result %+v, want the preset {202, {\"queued\":true}}", r.Fallback)
		}
		if r.ErrorClass != "circuit_open" {
			t.Errorf("fallback result error_class %q, want circuit_open", r.ErrorClass)
		}
	}
	if fallbackResults != len(fbs) {
		t.Errorf("%d fallback results for %d fallback records", fallbackResults, len(fbs))
	}

	// Half-open recovery: the target is healthy again; once open_timeout has
	// passed since the trip (time is the behaviour under test), new jobs go
	// through.
	sink.SetBehaviour(testenv.OK())
	opened := fbs[0].Rec.At // the breaker was open by then
	for _, f := range fbs {
		if f.Rec.At.Before(opened) {
			opened = f.Rec.At
		}
	}
	time.Sleep(time.Until(opened.Add(1300 * time.Millisecond)))
	for i := range 5 {
		b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("br-after-%d", i), ReplyTo: "app.results"}))
	}
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return results.Len() >= n+5, fmt.Sprintf("%d of %d results", results.Len(), n+5)
	})
	for i := range 5 {
		id := fmt.Sprintf("br-after-%d", i)
		if rs := results.ByID(id); len(rs) != 1 || rs[0].Outcome != schemas.OutcomeDelivered {
			t.Errorf("%s: results %+v, want delivered after the breaker's open_timeout", id, rs)
		}
	}
}
