package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// stockMaxPayload is a stock nats-server's max payload, set explicitly.
const stockMaxPayload = 1 << 20

// fitTimeouts keep AckWait short (4 x total + 10s = 14s), so that the
// tests can watch a whole AckWait go by without a redelivery.
var fitTimeouts = testenv.M{"timeouts": testenv.M{"connect": "1s", "tls": "1s", "response_header": "1s", "total": "1s"}}

// stockBroker starts a nats-server with the stock max payload of 1 MiB.
func stockBroker(t *testing.T) *testenv.Broker {
	t.Helper()
	srv := testenv.NATSWith(t, func(o *server.Options) { o.MaxPayload = stockMaxPayload })
	nc, js := testenv.Connect(t, srv.ClientURL())
	return &testenv.Broker{Server: srv, URL: srv.ClientURL(), NC: nc, JS: js}
}

// TestRecordsFitMaxPayload (issue 12): on a stock server (max payload
// 1 MiB), jobs with 700 kB of meta, 900 kB of '<' in the body, 700 kB of
// headers, an undecodable payload near the limit, a JSON payload over
// max_job_bytes but under the max payload, a 3 MB response body (with
// max_response_bytes at 8 MiB) and a fallback of a 700 kB meta each reach
// exactly one outcome; what does not fit is cut and says so; nothing is
// redelivered.
func TestRecordsFitMaxPayload(t *testing.T) {
	t.Parallel()
	b := stockBroker(t)
	bad := testenv.NewSink(t)
	bad.SetBehaviour(testenv.Status(http.StatusBadRequest))
	blob := testenv.NewSink(t)
	big := bytes.Repeat([]byte(`{"chunk":"0123456789abcdef"}`), 3_000_000/28) // a 3 MB body
	blob.SetBehaviour(func(w http.ResponseWriter, _ *http.Request, _ *testenv.Env) bool {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(big)
		return false
	})
	once := testenv.M{"retry": testenv.M{"max_attempts": 1}}
	results := testenv.Results(t, b.NC, "app.results")
	svc := testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"max_job_bytes": 4 << 20, "max_response_bytes": 8 << 20}},
		testenv.Targets(testenv.M{
			"a":    testenv.Target(bad.URL, fitTimeouts, once),
			"blob": testenv.Target(blob.URL, fitTimeouts, once),
			"fb": testenv.Target("http://"+testenv.RefusedAddr(t), fitTimeouts, once, testenv.M{"breaker": testenv.M{
				"consecutive_failures": 1, "open_timeout": "1h", "when_open": "fallback"}}),
		}),
	))

	str := func(n int, c string) json.RawMessage { return json.RawMessage(`"` + strings.Repeat(c, n) + `"`) }
	headers := map[string]string{}
	for i := range 7 {
		headers[fmt.Sprintf("X-Big-%d", i)] = strings.Repeat("h", 100_000)
	}
	rawJunk := bytes.Repeat([]byte("not json, "), 103_000) // 1,030,000 bytes, under the clamped max_job_bytes
	over := []byte(`{"id":"over-1","reply_to":"app.results","meta":"` + strings.Repeat("o", 1_048_000-50) + `"}`)
	// A payload under max_job_bytes whose own headers take it over: its
	// retry copy could not be stored, so it is invalid at admit.
	heavy := testenv.JobMsg("a", schemas.Job{ID: "heavy-headers", Body: str(1_030_000, "b")})
	heavy.Header = nats.Header{"X-Publisher-Note": {strings.Repeat("n", 16_000)}}
	b.PublishMany(t, []testenv.Msg{
		testenv.JobMsg("a", schemas.Job{ID: "meta-700k", ReplyTo: "app.results", Meta: str(700_000, "m")}),
		testenv.RawMsg("a", "lt-900k", []byte(`{"id":"lt-900k","reply_to":"app.results","body":`+string(str(900_000, "<"))+`}`)),
		testenv.JobMsg("a", schemas.Job{ID: "headers-700k", ReplyTo: "app.results", Headers: headers}),
		testenv.RawMsg("a", "raw-1030k", rawJunk),
		testenv.RawMsg("a", "over-1", over),
		heavy,
		// An invalid payload's "id" of 70 kB: no Dispatch-Job-Id header
		// (headers over 64 KiB are refused however the data is cut).
		testenv.RawMsg("a", "long-id", []byte(`{"id":"`+strings.Repeat("i", 70_000)+`","colour":1}`)),
		testenv.JobMsg("blob", schemas.Job{ID: "blob-3mb", ReplyTo: "app.results"}),
		testenv.JobMsg("fb", schemas.Job{ID: "fb-trip"}),
	})
	testenv.WaitDeadLetters(t, b.JS, "fb", 1, 30*time.Second) // the trip opened the breaker
	b.Publish(t, testenv.JobMsg("fb", schemas.Job{ID: "fb-meta-700k", ReplyTo: "app.results", Meta: str(700_000, "m")}))

	dls := testenv.WaitDeadLetters(t, b.JS, "", 8, 60*time.Second)
	fbs := testenv.WaitFallbacks(t, b.JS, "fb", 1, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		return results.Len() >= 6, fmt.Sprintf("%d results, want 6", results.Len())
	})
	noRedelivery(t, b.JS, map[string]int{"a": 7, "blob": 1, "fb": 2})

	// Exactly one outcome per job: records by job, results by job id.
	type outcome struct {
		kind  string // dead letter, fallback
		data  []byte
		cut   []string
		hdr   string
		extra string
	}
	byJob := map[string][]outcome{}
	for _, d := range dls {
		id := d.Header.Get(schemas.HeaderJobID)
		switch {
		case id == "" && bytes.Contains(d.Rec.Raw, []byte("not json")):
			id = "raw-1030k"
		case id == "" && bytes.Contains(d.Rec.Job, []byte(`"colour"`)):
			id = "long-id"
		}
		byJob[id] = append(byJob[id], outcome{"dead letter", d.Data, d.Rec.Truncated, d.Header.Get(schemas.HeaderTruncated), d.Rec.Reason})
	}
	for _, f := range fbs {
		byJob[f.Header.Get(schemas.HeaderJobID)] = append(byJob[f.Header.Get(schemas.HeaderJobID)],
			outcome{"fallback", f.Data, f.Rec.Truncated, f.Header.Get(schemas.HeaderTruncated), ""})
	}
	for _, c := range []struct {
		id, kind, reason string
		cut              []string
	}{
		{"meta-700k", "dead letter", schemas.ReasonNonRetryable, nil},
		{"lt-900k", "dead letter", schemas.ReasonNonRetryable, nil},
		{"headers-700k", "dead letter", schemas.ReasonNonRetryable, nil},
		{"raw-1030k", "dead letter", schemas.ReasonInvalid, []string{schemas.CutRaw}},
		{"over-1", "dead letter", schemas.ReasonInvalid, []string{schemas.CutMeta}},
		{"heavy-headers", "dead letter", schemas.ReasonInvalid, nil},
		{"long-id", "dead letter", schemas.ReasonInvalid, nil},
		{"fb-trip", "dead letter", schemas.ReasonExhausted, nil},
		{"fb-meta-700k", "fallback", "", nil},
	} {
		got := byJob[c.id]
		if len(got) != 1 || got[0].kind != c.kind || got[0].extra != c.reason {
			t.Errorf("%s: %d records, want one %s %s", c.id, len(got), c.kind, c.reason)
			continue
		}
		o := got[0]
		if !slices.Equal(o.cut, c.cut) || o.hdr != strings.Join(c.cut, ",") {
			t.Errorf("%s: truncated %q, Dispatch-Truncated %q; want %q", c.id, o.cut, o.hdr, c.cut)
		}
		schema := schemas.DeadLetterSchema
		if c.kind == "fallback" {
			schema = schemas.FallbackSchema
		}
		if err := schemas.Validate(schema, o.data); err != nil {
			t.Errorf("%s: %v", c.id, err)
		}
		t.Logf("%-13s %-11s %9d bytes, cut %v", c.id, c.kind, len(o.data), o.cut)
	}
	if lt := byJob["lt-900k"]; len(lt) == 1 && (bytes.Contains(lt[0].data, []byte(`\u003c`)) || len(lt[0].data) > 910_000) {
		t.Errorf("the 900 kB of '<' take %d bytes in the record (escaped: %v), want them as they are", len(lt[0].data), bytes.Contains(lt[0].data, []byte(`\u003c`)))
	}
	for _, id := range []string{"meta-700k", "fb-meta-700k"} {
		var top struct {
			Meta json.RawMessage `json:"meta"`
			Job  struct {
				Meta json.RawMessage `json:"meta"`
			} `json:"job"`
		}
		if got := byJob[id]; len(got) == 1 && (json.Unmarshal(got[0].data, &top) != nil || top.Meta != nil || len(top.Job.Meta) != 700_002) {
			t.Errorf("%s: record of %d bytes, top-level meta %d bytes, job.meta %d bytes: want the meta once, in the job",
				id, len(got[0].data), len(top.Meta), len(top.Job.Meta))
		}
	}

	wantResults := map[string][]string{ // job id -> its result's truncated
		"meta-700k": nil, "lt-900k": nil, "headers-700k": nil, "over-1": nil, // no headers: a result of 1,048,195 bytes fits
		"blob-3mb": {schemas.CutBody}, "fb-meta-700k": nil,
	}
	raw := results.Raw()
	seen := map[string]int{}
	for i, r := range results.All() {
		seen[r.JobID]++
		if err := schemas.Validate(schemas.ResultSchema, raw[i]); err != nil {
			t.Errorf("result of %s: %v", r.JobID, err)
		}
		if want, ok := wantResults[r.JobID]; !ok || !slices.Equal(r.Truncated, want) {
			t.Errorf("result of %s: truncated %q, want %q", r.JobID, r.Truncated, want)
		}
		t.Logf("result %-13s %-13s %9d bytes, cut %v", r.JobID, r.Outcome, len(raw[i]), r.Truncated)
		if r.JobID == "blob-3mb" && (r.Outcome != schemas.OutcomeDelivered || !strings.HasPrefix(string(big), r.Body) || len(raw[i]) < stockMaxPayload-16) {
			t.Errorf("result of blob-3mb: %s, body %d bytes: want delivered, a prefix of the body just under 1 MiB", r.Outcome, len(r.Body))
		}
	}
	for id := range wantResults {
		if seen[id] != 1 {
			t.Errorf("%d results for %s, want 1", seen[id], id)
		}
	}
	if strings.Contains(svc.Logs.String(), "not stored") {
		t.Errorf("a record was not stored:\n%s", svc.Logs.Tail(20))
	}
	if !strings.Contains(svc.Logs.String(), `"clamped_to":1032192`) {
		t.Errorf("no log of max_job_bytes clamped to 1 MiB - 16 KiB:\n%s", svc.Logs.Tail(20))
	}
}

// TestRecordTooLargeForStream: a dead-letter stream with its own, smaller
// max_msg_size refuses a record (error 10054); the record is cut to that
// size and stored. Below the smallest record the job ends without one:
// terminated, counted in dispatcher_records_too_large_total, logged, and
// never redelivered.
func TestRecordTooLargeForStream(t *testing.T) {
	t.Parallel()
	b := stockBroker(t)
	bad := testenv.NewSink(t)
	bad.SetBehaviour(testenv.Status(http.StatusBadRequest))
	svc := testenv.RunService(t, b.Config(testenv.Targets(testenv.M{
		"a": testenv.Target(bad.URL, fitTimeouts, testenv.M{"retry": testenv.M{"max_attempts": 1}}),
	})))
	setMaxMsgSize := func(n int32) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := b.JS.Stream(ctx, testenv.DLQStream)
		if err != nil {
			t.Fatal(err)
		}
		sc := st.CachedInfo().Config
		sc.MaxMsgSize = n
		if _, err := b.JS.UpdateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	setMaxMsgSize(256 << 10)
	meta := json.RawMessage(`"` + strings.Repeat("m", 700_000) + `"`)
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "stream-cut", Meta: meta}))
	dls := testenv.WaitDeadLetters(t, b.JS, "a", 1, 30*time.Second)
	if d := dls[0]; !slices.Equal(d.Rec.Truncated, []string{schemas.CutMeta}) || len(d.Data) > 256<<10 || d.Rec.JobMeta() != nil {
		t.Errorf("record of %d bytes, truncated %q: want the meta cut to fit 256 KiB", len(d.Data), d.Rec.Truncated)
	}
	t.Logf("stream max_msg_size 256 KiB: record of %d bytes, cut %v", len(dls[0].Data), dls[0].Rec.Truncated)

	setMaxMsgSize(200) // under the smallest dead letter
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "stream-refused"}))
	noRedelivery(t, b.JS, map[string]int{"a": 2})
	if n := testenv.CountMsgs(t, b.JS, testenv.DLQStream, testenv.DLQSubject("a")); n != 1 {
		t.Errorf("%d dead letters, want only the first", n)
	}
	if n := testenv.CountMsgs(t, b.JS, testenv.JobsStream, testenv.JobsSubject("a")); n != 0 {
		t.Errorf("%d jobs left in the jobs stream, want the refused one terminated", n)
	}
	if got := scrape(t, svc.HTTPAddr())[`dispatcher_records_too_large_total{record="dead_letter",target="a"}`]; got != 1 {
		t.Errorf("dispatcher_records_too_large_total = %v, want 1", got)
	}
	if !strings.Contains(svc.Logs.String(), "job terminated without one") || strings.Contains(svc.Logs.String(), "will be redelivered") {
		t.Errorf("logs:\n%s", svc.Logs.Tail(20))
	}
}

// TestRetryCopyFits: a job near max_job_bytes retried against an endpoint
// with a long URL (each attempt of the history names it) would outgrow
// the max payload with its Dispatch-History; the copy drops its oldest
// attempts instead, carries the job as sent, and every attempt is made.
func TestRetryCopyFits(t *testing.T) {
	t.Parallel()
	b := stockBroker(t)
	down := testenv.NewSink(t)
	down.SetBehaviour(testenv.Status(http.StatusServiceUnavailable))
	const attempts = 12
	long := down.URL + "/" + strings.Repeat("p", 3000) // ~3 kB per attempt of history
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(long, fitTimeouts, testenv.M{"retry": testenv.M{
		// Over a second apart: every retry is a scheduled copy, none made in place.
		"max_attempts": attempts, "initial_interval": "1100ms", "max_interval": "1100ms", "multiplier": 1, "randomization": 0}})})))
	job := testenv.JobMsg("a", schemas.Job{ID: "near-max", Body: json.RawMessage(`"` + strings.Repeat("b", 1_031_000) + `"`)})
	b.Publish(t, job)
	dls := testenv.WaitDeadLetters(t, b.JS, "a", 1, 60*time.Second)
	noRedelivery(t, b.JS, map[string]int{"a": attempts})
	calls := down.Calls()
	if len(calls) != attempts {
		t.Fatalf("%d calls, want %d", len(calls), attempts)
	}
	for _, c := range calls {
		if string(c.Body) != `"`+strings.Repeat("b", 1_031_000)+`"` {
			t.Fatalf("call %d sent a body of %d bytes, not the job's", c.N, len(c.Body))
		}
	}
	d := dls[0].Rec
	if d.Reason != schemas.ReasonExhausted || d.Attempts != attempts {
		t.Errorf("dead letter %s after %d attempts, want exhausted after %d", d.Reason, d.Attempts, attempts)
	}
	t.Logf("dead letter of %d bytes, %d attempts kept, cut %v", len(dls[0].Data), len(d.History), d.Truncated)
}

// noRedelivery waits until each target's consumer has delivered its
// number of messages and holds none pending or unacknowledged, then
// watches them for a whole AckWait and a second: a delivery left un-acked
// would come again within it. It fails on any redelivery.
func noRedelivery(t *testing.T, js jetstream.JetStream, deliveries map[string]int) {
	t.Helper()
	var ackWait time.Duration
	for target, n := range deliveries {
		testenv.WaitSettled(t, js, target, n, 60*time.Second)
		ackWait = max(ackWait, testenv.TargetDeliveries(t, js, target).AckWait)
	}
	var bad string
	if testenv.Poll(ackWait+time.Second, func() (bool, string) {
		for target, n := range deliveries {
			d := testenv.TargetDeliveries(t, js, target)
			if d.Delivered != uint64(n) || d.Redelivered != 0 || d.AckPending != 0 {
				bad = fmt.Sprintf("consumers of %s: %d deliveries, %d redelivered, %d ack pending; want %d, 0, 0",
					target, d.Delivered, d.Redelivered, d.AckPending, n)
				return true, bad
			}
		}
		return false, ""
	}) {
		t.Errorf("within AckWait (%s) of settling: %s", ackWait, bad)
	}
}
