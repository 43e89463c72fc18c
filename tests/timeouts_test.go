package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestTimeouts checks that each split timeout cuts a call at its own
// deadline and is reported with its own error class.
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
		{target: "total_body", endpoint: sink.URL,
			settings:  testenv.M{"timeouts": testenv.M{"total": "300ms"}},
			job:       schemas.Job{Path: "/stall"},
			wantClass: "timeout_total", min: 250 * time.Millisecond, max: 1500 * time.Millisecond},
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
	}
	targets := testenv.M{}
	for _, tc := range tests {
		targets[tc.target] = testenv.Target(tc.endpoint, testenv.M{"retry": testenv.M{"max_attempts": 1}}, tc.settings)
	}
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(testenv.Targets(targets)))

	for _, tc := range tests {
		job := tc.job
		job.ID, job.ReplyTo = "to-"+tc.target, "app.results"
		b.Publish(t, testenv.JobMsg(tc.target, job))
	}
	dls := testenv.WaitDeadLetters(t, b.JS, "", len(tests), 20*time.Second)
	byTarget := map[string]schemas.DeadLetter{}
	for _, d := range dls {
		byTarget[d.Rec.Target] = d.Rec
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return results.Len() >= len(tests), fmt.Sprintf("%d results", results.Len())
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
}
