package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestTimeouts checks that each split timeout cuts a call at its own
// deadline and is reported with its own error class, and that a job's
// timeout_ms caps the target's total timeout: a lower one cuts the call at
// timeout_ms, a higher one does not lift the target's. The total timeout
// also bounds reading a 2xx body; such a call is delivered with what came
// (the target completed it), not dead-lettered.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.ByPath(map[string]testenv.Behaviour{
		"/sleep": testenv.Sleep(2*time.Second, testenv.OK()),
		"/stall": testenv.StallBody(),
	}))
	silent := testenv.SilentListener(t)
	refused := testenv.RefusedAddr(t)

	tests := []struct {
		target    string
		endpoint  string
		settings  testenv.M
		job       schemas.Job
		wantClass string
		// bounds of the attempt's duration
		min, max time.Duration
	}{
		{target: "response_header", endpoint: sink.URL,
			settings:  testenv.M{"timeouts": testenv.M{"response_header": "200ms", "total": "3s"}},
			job:       schemas.Job{Path: "/sleep"},
			wantClass: "timeout_response_header", min: 150 * time.Millisecond, max: 1500 * time.Millisecond},
		{target: "total_headers", endpoint: sink.URL,
			// response_header (2s, inherited) is above total: total cuts first.
			settings:  testenv.M{"timeouts": testenv.M{"total": "300ms"}},
			job:       schemas.Job{Path: "/sleep"},
			wantClass: "timeout_total", min: 250 * time.Millisecond, max: 1500 * time.Millisecond},
		{target: "tls", endpoint: "https://" + silent,
			settings:  testenv.M{"timeouts": testenv.M{"tls": "200ms"}},
			wantClass: "timeout_tls", min: 150 * time.Millisecond, max: 1500 * time.Millisecond},
		{target: "refused", endpoint: "http://" + refused,
			wantClass: "connection_refused", min: 0, max: 1500 * time.Millisecond},
		{target: "job_timeout", endpoint: sink.URL,
			settings:  testenv.M{"timeouts": testenv.M{"total": "3s"}},
			job:       schemas.Job{Path: "/sleep", TimeoutMS: 300},
			wantClass: "timeout_total", min: 250 * time.Millisecond, max: 1500 * time.Millisecond},
		{target: "job_timeout_capped", endpoint: sink.URL,
			// The job asks for 5s; the target's total (300ms) stands.
			settings:  testenv.M{"timeouts": testenv.M{"total": "300ms"}},
			job:       schemas.Job{Path: "/sleep", TimeoutMS: 5000},
			wantClass: "timeout_total", min: 250 * time.Millisecond, max: 1500 * time.Millisecond},
	}
	targets := testenv.M{}
	for _, tc := range tests {
		targets[tc.target] = testenv.Target(tc.endpoint, testenv.M{"retry": testenv.M{"max_attempts": 1}}, tc.settings)
	}
	targets["total_body"] = testenv.Target(sink.URL, testenv.M{"retry": testenv.M{"max_attempts": 1}, "timeouts": testenv.M{"total": "300ms"}})
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(testenv.Targets(targets)))

	for _, tc := range tests {
		job := tc.job
		job.ID, job.ReplyTo = "to-"+tc.target, "app.results"
		b.Publish(t, testenv.JobMsg(tc.target, job))
	}
	b.Publish(t, testenv.JobMsg("total_body", schemas.Job{ID: "to-total_body", Path: "/stall", ReplyTo: "app.results"}))
	dls := testenv.WaitDeadLetters(t, b.JS, "", len(tests), 20*time.Second)
	byTarget := map[string]schemas.DeadLetter{}
	for _, d := range dls {
		byTarget[d.Rec.Target] = d.Rec
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return results.Len() >= len(tests)+1, fmt.Sprintf("%d results", results.Len())
	})
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			d, ok := byTarget[tc.target]
			if !ok {
				t.Fatal("no dead letter")
			}
			if d.Reason != schemas.ReasonExhausted || d.ErrorClass != tc.wantClass || d.Attempts != 1 || len(d.History) != 1 {
				t.Fatalf("reason %q class %q attempts %d history %d (error %q), want exhausted %s after 1 attempt",
					d.Reason, d.ErrorClass, d.Attempts, len(d.History), d.Error, tc.wantClass)
			}
			dur := time.Duration(d.History[0].DurationMS * float64(time.Millisecond))
			if dur < tc.min || dur > tc.max {
				t.Errorf("attempt took %s, want between %s and %s", dur, tc.min, tc.max)
			}
			if rs := results.ByID("to-" + tc.target); len(rs) != 1 || rs[0].ErrorClass != tc.wantClass {
				t.Errorf("results %+v, want one with error_class %s", rs, tc.wantClass)
			}
		})
	}
	t.Run("total_body", func(t *testing.T) {
		rs := results.ByID("to-total_body")
		if len(rs) != 1 || rs[0].Outcome != schemas.OutcomeDelivered || rs[0].Status != 200 || rs[0].Attempts != 1 {
			t.Fatalf("results %+v, want one delivered, 200, after 1 attempt", rs)
		}
		if d := time.Duration(rs[0].DurationMS * float64(time.Millisecond)); d < 250*time.Millisecond || d > 1500*time.Millisecond {
			t.Errorf("delivered after %s, want the body read cut at the total timeout (300ms)", d)
		}
		if n := len(sink.ByKey()["to-total_body"]); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
}

// TestConnectTimeout checks that a target whose address never answers the
// SYN (a listener with a full accept queue on 127.0.0.1) is cut at the
// configured connect timeout, well before the total one, and classified
// timeout_connect.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target("http://"+testenv.UnansweredAddr(t), testenv.M{
		"retry":    testenv.M{"max_attempts": 1},
		"timeouts": testenv.M{"connect": "300ms", "total": "3s"},
	})})))
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "connect-1", ReplyTo: "app.results"}))
	d := testenv.WaitDeadLetters(t, b.JS, "a", 1, 15*time.Second)[0].Rec
	if d.Reason != schemas.ReasonExhausted || d.Attempts != 1 || len(d.History) != 1 || !strings.HasPrefix(d.Error, "dial tcp ") {
		t.Fatalf("dead letter %+v, want exhausted after 1 attempt that failed dialing", d)
	}
	if dur := time.Duration(d.History[0].DurationMS * float64(time.Millisecond)); dur < 250*time.Millisecond || dur > 1500*time.Millisecond {
		t.Errorf("attempt took %s, want about the connect timeout (300ms), far below the total (3s)", dur)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return results.Len() == 1, "waiting for the result" })
	if d.ErrorClass != "timeout_connect" || d.History[0].ErrorClass != "timeout_connect" {
		t.Errorf("error class %q (attempt %q), want timeout_connect", d.ErrorClass, d.History[0].ErrorClass)
	}
	if r := results.ByID("connect-1"); len(r) != 1 || r[0].ErrorClass != "timeout_connect" {
		t.Errorf("results %+v, want one with error_class timeout_connect", r)
	}
}
