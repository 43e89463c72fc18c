package tests

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestEveryMessageValidates (issue 12 item 8): every record and result a
// running service writes validates against its own schema. A mixed run on
// a stock server — delivered jobs, every dead-letter reason (exhausted,
// non_retryable, invalid as a non-JSON payload, as a JSON object with bad
// fields and with no id, expired, unknown_target), a fallback, a record cut
// to fit, and publisher-supplied trace ids that are not trace ids — is read
// back from the streams and a reply_to subscription and each message is
// checked with schemas.Validate.
func TestEveryMessageValidates(t *testing.T) {
	t.Parallel()
	b := stockBroker(t)
	ok, bad, down := testenv.NewSink(t), testenv.NewSink(t), testenv.NewSink(t)
	bad.SetBehaviour(testenv.Status(http.StatusBadRequest))
	down.SetBehaviour(testenv.Status(http.StatusServiceUnavailable))
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{
		"ok":   testenv.Target(ok.URL),
		"bad":  testenv.Target(bad.URL),
		"down": testenv.Target(down.URL, testenv.M{"retry": testenv.M{"max_attempts": 2}}),
		"fb": testenv.Target("http://"+testenv.RefusedAddr(t), testenv.M{"retry": testenv.M{"max_attempts": 1},
			"breaker": testenv.M{"consecutive_failures": 1, "open_timeout": "1h", "when_open": "fallback"}}),
	})))

	const reply = "app.results"
	withHeader := func(m testenv.Msg, k, v string) testenv.Msg {
		m.Header = nats.Header{k: {v}}
		return m
	}
	past := time.Now().Add(-time.Hour)
	b.PublishMany(t, []testenv.Msg{
		testenv.JobMsg("ok", schemas.Job{ID: "v-delivered", ReplyTo: reply, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Meta: []byte(`{"o":1}`)}),
		withHeader(testenv.JobMsg("ok", schemas.Job{ID: "v-bad-trace-header", ReplyTo: reply}), schemas.HeaderTraceID, "not-a-trace"),
		withHeader(testenv.JobMsg("ok", schemas.Job{ID: "v-upper-traceparent", ReplyTo: reply}),
			"Traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"),
		testenv.JobMsg("ok", schemas.Job{ID: "v-expired", ReplyTo: reply, NotAfter: &past}),
		withHeader(testenv.RawMsg("ok", "v-not-json", []byte("this is {not json")), schemas.HeaderTraceID, "NOT-HEX"),
		testenv.RawMsg("ok", "v-bad-fields", []byte(`{"id":"bad id!","reply_to":"app.results","colour":1}`)),
		testenv.RawMsg("ok", "v-no-id", []byte(`{"reply_to":"app.results","path":"no-slash"}`)),
		testenv.RawMsg("ok", "v-cut", bytes.Repeat([]byte("not json, "), 103_000)), // raw cut to fit 1 MiB
		testenv.JobMsg("bad", schemas.Job{ID: "v-non-retryable", ReplyTo: reply}),
		testenv.JobMsg("down", schemas.Job{ID: "v-exhausted", ReplyTo: reply}),
		testenv.JobMsg("ghost", schemas.Job{ID: "v-orphan", ReplyTo: reply}),
		testenv.JobMsg("fb", schemas.Job{ID: "v-fb-trip", ReplyTo: reply}),
	})
	testenv.WaitDeadLetters(t, b.JS, "fb", 1, 30*time.Second) // the breaker is open now
	b.Publish(t, testenv.JobMsg("fb", schemas.Job{ID: "v-fallback", ReplyTo: reply, Meta: []byte(`{"o":2}`)}))

	const wantDLs, wantResults = 9, 11
	dls := testenv.WaitDeadLetters(t, b.JS, "", wantDLs, 60*time.Second)
	fbs := testenv.WaitFallbacks(t, b.JS, "", 1, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		return results.Len() >= wantResults, fmt.Sprintf("%d results, want %d", results.Len(), wantResults)
	})

	reasons := map[string]int{}
	cut := 0
	for _, d := range dls {
		reasons[d.Rec.Reason]++
		if len(d.Rec.Truncated) > 0 {
			cut++
		}
		if err := schemas.Validate(schemas.DeadLetterSchema, d.Data); err != nil {
			t.Errorf("dead letter %d (%s, %s): %v\n%.300s", d.Seq, d.Rec.Reason, d.Header.Get(schemas.HeaderJobID), err, d.Data)
		}
	}
	want := map[string]int{schemas.ReasonExhausted: 2, schemas.ReasonNonRetryable: 1, schemas.ReasonInvalid: 4,
		schemas.ReasonExpired: 1, schemas.ReasonUnknownTarget: 1}
	for _, r := range schemas.Reasons {
		if reasons[r] != want[r] {
			t.Errorf("%d dead letters %s, want %d", reasons[r], r, want[r])
		}
	}
	if cut != 1 {
		t.Errorf("%d dead letters cut to fit, want 1", cut)
	}
	for _, f := range fbs {
		if err := schemas.Validate(schemas.FallbackSchema, f.Data); err != nil {
			t.Errorf("fallback record %d: %v\n%.300s", f.Seq, err, f.Data)
		}
	}
	outcomes := map[string]int{}
	raw := results.Raw()
	for i, r := range results.All() {
		outcomes[r.Outcome]++
		if err := schemas.Validate(schemas.ResultSchema, raw[i]); err != nil {
			t.Errorf("result %d: %v\n%.300s", i, err, raw[i])
		}
		// An invalid payload's id that is no job id is replaced by its
		// dead letter's msg id.
		if r.ErrorClass == schemas.ClassInvalidJob && !strings.HasPrefix(r.JobID, "dlq:ok:") {
			t.Errorf("result of an invalid payload: job_id %q, want dlq:ok:<seq>", r.JobID)
		}
	}
	if len(raw) != wantResults || !maps.Equal(outcomes, map[string]int{schemas.OutcomeDelivered: 3, schemas.OutcomeDeadLettered: 7, schemas.OutcomeFallback: 1}) {
		t.Errorf("%d results %v, want %d: 3 delivered, 7 dead_lettered, 1 fallback", len(raw), outcomes, wantResults)
	}
	// W3C Trace Context: the ids are lowercase hex, and a traceparent with
	// characters not allowed is ignored (contract 10.1): a new trace.
	if r := results.ByID("v-upper-traceparent"); len(r) != 1 || !schemas.ValidTraceID(r[0].TraceID) || r[0].TraceID == "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("results of v-upper-traceparent: %+v, want a new trace (an upper-case traceparent is not W3C's)", r)
	}
	if r := results.ByID("v-bad-trace-header"); len(r) != 1 || !schemas.ValidTraceID(r[0].TraceID) {
		t.Errorf("results of v-bad-trace-header: %+v, want a new trace id", r)
	}
	t.Logf("validated %d dead letters (%v), %d fallback records and %d results (%v)", len(dls), reasons, len(fbs), len(raw), outcomes)
}
