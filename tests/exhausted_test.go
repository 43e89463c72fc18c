package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestExhausted checks the dead letter of a job that failed with a
// retryable status until its attempts ran out, and that a job's
// max_attempts is capped by the target's.
func TestExhausted(t *testing.T) {
	t.Parallel()
	b, sink, results, cfg := failingTarget(t, testenv.M{
		"retry": testenv.M{"max_attempts": 3, "initial_interval": "50ms"},
	})
	testenv.RunService(t, cfg)

	tests := []struct {
		id          string
		maxAttempts int // the job's, 0 for none
		want        int
	}{
		{id: "ex-target", want: 3},
		{id: "ex-job-lower", maxAttempts: 2, want: 2},
		{id: "ex-job-higher", maxAttempts: 10, want: 3},
	}
	for _, tc := range tests {
		b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: tc.id, MaxAttempts: tc.maxAttempts, ReplyTo: "app.results",
			Meta: []byte(`{"k":"` + tc.id + `"}`)}))
	}
	dls := testenv.WaitDeadLetters(t, b.JS, "a", len(tests), 20*time.Second)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return results.Len() >= len(tests), fmt.Sprintf("%d results", results.Len())
	})
	byID := map[string]testenv.Record[schemas.DeadLetter]{}
	for _, d := range dls {
		byID[d.Header.Get("Dispatch-Job-Id")] = d
	}
	byKey := sink.ByKey()
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			if n := len(byKey[tc.id]); n != tc.want {
				t.Errorf("%d calls, want %d", n, tc.want)
			}
			rec, ok := byID[tc.id]
			if !ok {
				t.Fatal("no dead letter")
			}
			d := rec.Rec
			if d.Reason != schemas.ReasonExhausted || d.ErrorClass != "http_5xx" || d.LastStatus != 503 || d.Attempts != tc.want {
				t.Errorf("reason %q class %q last_status %d attempts %d, want exhausted http_5xx 503 %d",
					d.Reason, d.ErrorClass, d.LastStatus, d.Attempts, tc.want)
			}
			if len(d.History) != tc.want {
				t.Fatalf("history of %d attempts, want %d", len(d.History), tc.want)
			}
			for i, a := range d.History {
				if a.Attempt != i+1 || a.Status != 503 || a.ErrorClass != "http_5xx" || a.Endpoint != sink.URL {
					t.Errorf("history[%d] = %+v, want attempt %d, 503, http_5xx, endpoint %s", i, a, i+1, sink.URL)
				}
				if i > 0 && !a.At.After(d.History[i-1].At) {
					t.Errorf("history[%d].at %s not after history[%d].at %s", i, a.At, i-1, d.History[i-1].At)
				}
			}
			if d.FirstAttemptAt == nil || !d.FirstAttemptAt.Equal(d.History[0].At) {
				t.Errorf("first_attempt_at %v, want the first attempt's time %s", d.FirstAttemptAt, d.History[0].At)
			}
			if d.DeadAt.Before(d.History[len(d.History)-1].At) {
				t.Errorf("dead_at %s before the last attempt", d.DeadAt)
			}
			if !jsonEqual(d.JobMeta(), []byte(`{"k":"`+tc.id+`"}`)) || d.Meta != nil {
				t.Errorf("job meta %s, top-level meta %s: want meta copied once, in the job", d.JobMeta(), d.Meta)
			}
			if d.TraceID == "" || d.ServiceName != "dispatcher-test" || d.Instance == "" || d.Target != "a" {
				t.Errorf("trace_id %q service_name %q instance %q target %q", d.TraceID, d.ServiceName, d.Instance, d.Target)
			}
			h := rec.Header
			if h.Get("Dispatch-Reason") != "exhausted" || h.Get("Dispatch-Error-Class") != "http_5xx" ||
				h.Get("Dispatch-Job-Id") != tc.id || h.Get("Nats-Msg-Id") == "" {
				t.Errorf("headers %v, want Dispatch-Reason exhausted, Dispatch-Error-Class http_5xx, Dispatch-Job-Id %s, a Nats-Msg-Id", h, tc.id)
			}
			rs := results.ByID(tc.id)
			if len(rs) != 1 || rs[0].Outcome != schemas.OutcomeDeadLettered || rs[0].Attempts != tc.want || rs[0].ErrorClass != "http_5xx" {
				t.Errorf("results %+v, want one dead_lettered after %d attempts", rs, tc.want)
			}
		})
	}
}

// TestExhaustedMaxElapsed checks retry.max_elapsed: a job whose next retry
// would come later than max_elapsed after its first attempt is
// dead-lettered as exhausted, "(retry.max_elapsed reached)", with attempts
// left. Retries every 500ms under a max_elapsed of 800ms: the second
// attempt comes at least 500ms after the first, so its retry would be at
// least 1s after it.
func TestExhaustedMaxElapsed(t *testing.T) {
	t.Parallel()
	b, sink, results, cfg := failingTarget(t, testenv.M{
		"retry": testenv.M{"max_attempts": 10, "initial_interval": "500ms", "multiplier": 1, "max_elapsed": "800ms"},
	})
	testenv.RunService(t, cfg)
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "elapsed-1", ReplyTo: "app.results"}))
	d := testenv.WaitDeadLetters(t, b.JS, "a", 1, 15*time.Second)[0].Rec
	if d.Reason != schemas.ReasonExhausted || d.Attempts != 2 || len(d.History) != 2 || d.ErrorClass != "http_5xx" {
		t.Fatalf("reason %q attempts %d history %d class %q, want exhausted after 2 attempts (of 10 allowed), http_5xx",
			d.Reason, d.Attempts, len(d.History), d.ErrorClass)
	}
	if !strings.HasSuffix(d.Error, "(retry.max_elapsed reached)") {
		t.Errorf("error %q does not say retry.max_elapsed was reached", d.Error)
	}
	if gap := d.History[1].At.Sub(d.History[0].At); gap < 450*time.Millisecond {
		t.Errorf("second attempt %s after the first, want the 500ms interval", gap)
	}
	if n := len(sink.ByKey()["elapsed-1"]); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return results.Len() == 1, "waiting for the result" })
	if r := results.ByID("elapsed-1")[0]; r.Outcome != schemas.OutcomeDeadLettered || r.Attempts != 2 {
		t.Errorf("result %+v, want dead_lettered after 2 attempts", r)
	}
}
