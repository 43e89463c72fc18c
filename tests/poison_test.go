package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestPoison checks that payloads that are not a valid job for the target
// are dead-lettered with reason invalid without any call, and do not block
// the valid jobs behind them.
func TestPoison(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"max_job_bytes": 2048}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)}),
	))

	tests := []struct {
		name    string
		data    string
		decoded bool // the record's job holds the payload (else job is null and raw holds it)
	}{
		{name: "not JSON", data: "this is {not json"},
		{name: "unknown field", data: `{"id":"p-unknown","colour":"red","reply_to":"app.results"}`, decoded: true},
		{name: "body and body_base64", data: `{"id":"p-both","body":{"a":1},"body_base64":"AAAA","reply_to":"app.results"}`, decoded: true},
		{name: "target mismatch", data: `{"id":"p-target","target":"other","reply_to":"app.results"}`, decoded: true},
		{name: "over max_job_bytes", data: `{"id":"p-big","body":"` + strings.Repeat("x", 3000) + `"}`, decoded: true},
		{name: "bad id", data: `{"id":"bad id!","reply_to":"app.results"}`, decoded: true},
	}
	for i, tc := range tests {
		b.Publish(t, testenv.RawMsg("a", fmt.Sprintf("poison-%d", i), []byte(tc.data)))
	}
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "p-valid", ReplyTo: "app.results"}))

	dls := testenv.WaitDeadLetters(t, b.JS, "a", len(tests), 15*time.Second)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(results.ByID("p-valid")) == 1, "waiting for the valid job's result"
	})
	if r := results.ByID("p-valid")[0]; r.Outcome != schemas.OutcomeDelivered {
		t.Errorf("valid job after the poison: %+v, want delivered", r)
	}
	if calls := sink.Calls(); len(calls) != 1 || calls[0].Key != "p-valid" {
		t.Errorf("%d calls, want only the valid job's", len(calls))
	}
	if len(dls) != len(tests) {
		t.Fatalf("%d dead letters, want %d", len(dls), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d *schemas.DeadLetter
			for i := range dls {
				rec := &dls[i].Rec
				if bytes.Equal(rec.Raw, []byte(tc.data)) || (len(rec.Job) > 0 && jsonEqual(rec.Job, []byte(tc.data))) {
					d = rec
				}
			}
			if d == nil {
				t.Fatalf("no dead letter holds the payload")
			}
			if d.Reason != schemas.ReasonInvalid || d.ErrorClass != "invalid_job" || d.Attempts != 0 || d.Error == "" {
				t.Errorf("reason %q class %q attempts %d error %q, want invalid, invalid_job, 0 attempts and a reason",
					d.Reason, d.ErrorClass, d.Attempts, d.Error)
			}
			if tc.decoded {
				if d.Raw != nil {
					t.Errorf("raw set (%q) for a JSON object payload", d.Raw)
				}
				return
			}
			if !isNull(d.Job) {
				t.Errorf("job %s, want null for an undecodable payload", d.Job)
			}
			if !bytes.Equal(d.Raw, []byte(tc.data)) {
				t.Errorf("raw %q, want the original bytes", d.Raw)
			}
		})
	}
	// A job that decodes but names another target has a reply_to: being
	// dead-lettered, it gets a result there (docs/contract.md section 3.8).
	t.Run("target mismatch result", func(t *testing.T) {
		testenv.Poll(2*time.Second, func() (bool, string) { return len(results.ByID("p-target")) > 0, "" })
		rs := results.ByID("p-target")
		if len(rs) != 1 || rs[0].Outcome != schemas.OutcomeDeadLettered || rs[0].ErrorClass != "invalid_job" {
			t.Errorf("results for p-target: %+v, want one dead_lettered with error_class invalid_job", rs)
		}
	})
}

// isNull reports whether a raw JSON member is absent or null.
func isNull(m json.RawMessage) bool { return len(m) == 0 || string(m) == "null" }
