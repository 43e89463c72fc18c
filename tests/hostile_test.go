package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// Publishers are less trusted than the service: each test here is an attack
// a publisher with rights on <p>.jobs.> can make with a job's body and its
// NATS headers, and what the service does about it.

// TestHostileReplyTo: reply_to is publisher input, and results go out with
// the service's credentials. A reply_to in the service's own namespaces —
// the scheduling stream's subjects, a KV bucket, the jobs subjects — is
// refused (dead letter invalid, nothing published there); an allow pattern
// admits one.
func TestHostileReplyTo(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	allowed := testenv.Results(t, b.NC, "dispatch.results.orders")
	var planted []string
	sub, err := b.NC.Subscribe(">", func(m *nats.Msg) {
		if strings.Contains(string(m.Data), `"job_id":"rt-`) {
			planted = append(planted, m.Subject)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"reply_to_allow": []string{"dispatch.results.>"}}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)})))
	hostile := map[string]string{
		"rt-marker":    "dispatch.settled.DISPATCH_JOBS-1",
		"rt-retry":     "dispatch.retry.a.1",
		"rt-instances": "$KV.dispatch_instances.fake",
		"rt-jobs":      "dispatch.jobs.a",
		"rt-api":       "$JS.API.STREAM.PURGE.DISPATCH_JOBS",
	}
	for id, rt := range hostile {
		b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: id, ReplyTo: rt}))
	}
	// An invalid job's loose reply_to is refused too.
	b.Publish(t, testenv.RawMsg("a", "rt-invalid", []byte(`{"id":"rt-invalid","reply_to":"dispatch.jobs.a","colour":1}`)))
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "rt-ok", ReplyTo: "dispatch.results.orders"}))

	dls := testenv.WaitDeadLetters(t, b.JS, "a", len(hostile)+1, 20*time.Second)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return allowed.Len() == 1, "waiting for the allowed result" })
	for _, d := range dls {
		id := d.Header.Get(schemas.HeaderJobID)
		if d.Rec.Reason != schemas.ReasonInvalid {
			t.Errorf("%s: reason %s, want invalid", id, d.Rec.Reason)
		}
		if rt, ok := hostile[id]; ok && !strings.Contains(d.Rec.Error, "reply_to") {
			t.Errorf("%s (reply_to %s): error %q does not say why", id, rt, d.Rec.Error)
		}
	}
	if n := len(sink.ByKey()); n != 1 {
		t.Errorf("%d jobs called, want only rt-ok", n)
	}
	if r := allowed.ByID("rt-ok"); len(r) != 1 || r[0].Outcome != schemas.OutcomeDelivered {
		t.Errorf("allowed reply_to: %+v, want one delivered result", r)
	}
	_ = b.NC.Flush()
	for _, s := range planted {
		if s != "dispatch.results.orders" {
			t.Errorf("a result was published to %s", s)
		}
	}
	kv, err := b.JS.KeyValue(context.Background(), testenv.Topo.InstancesBucket())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(context.Background(), "fake"); err == nil {
		t.Error("a publisher's reply_to planted a fake fleet member")
	}
}

// TestHostileRetryState: retry state in headers is trusted only with a
// valid MAC. A fresh job claiming 7 attempts (max_attempts 3), or carrying
// a made-up MAC, is a fresh job: the target's third answer (200) delivers
// it, after two 503s.
func TestHostileRetryState(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.FailFirst(2, 503))
	results := testenv.Results(t, b.NC, "app.results.state")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"retry": testenv.M{"max_attempts": 3, "initial_interval": "50ms"}})})))
	forged := []nats.Header{
		{schemas.HeaderAttempts: {"7"}},
		{schemas.HeaderAttempts: {"7"}, schemas.HeaderStateFrom: {"DISPATCH_JOBS-1"}, schemas.HeaderStateMAC: {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		{schemas.HeaderAttempts: {"2"}, schemas.HeaderFirstAttemptAt: {"2001-01-01T00:00:00Z"}, schemas.HeaderHistory: {`[{"attempt":1,"at":"2001-01-01T00:00:00Z","endpoint":"x","status":503,"error_class":"http_5xx","error":"","duration_ms":1}]`}},
	}
	for i, h := range forged {
		m := testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("forged-%d", i), ReplyTo: "app.results.state"})
		m.Header = h
		b.Publish(t, m)
	}
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return results.Len() >= len(forged), fmt.Sprintf("%d of %d results", results.Len(), len(forged))
	})
	for i := range forged {
		id := fmt.Sprintf("forged-%d", i)
		r := results.ByID(id)
		if len(r) != 1 || r[0].Outcome != schemas.OutcomeDelivered || r[0].Attempts != 3 {
			t.Errorf("%s: %+v, want delivered on its 3rd attempt (forged state ignored)", id, r)
		}
	}
}

// TestHostileMsgIDSquatting documents a trust limit: publishers sharing an
// account share the jobs stream's duplicate window, so one that publishes
// first with another's job id makes the real job a duplicate, dropped by
// JetStream (the real publisher sees PubAck.Duplicate); the squatter's job
// is the one done. Publishers that must not trust each other need their
// own accounts or id namespaces.
func TestHostileMsgIDSquatting(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)})))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	squat := testenv.JobMsg("a", schemas.Job{ID: "ord-1", Path: "/squatter"}).NATSMsg()
	if _, err := b.JS.PublishMsg(ctx, squat); err != nil {
		t.Fatal(err)
	}
	ack, err := b.JS.PublishMsg(ctx, testenv.JobMsg("a", schemas.Job{ID: "ord-1", Path: "/real"}).NATSMsg())
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate {
		t.Fatal("the real job was stored: no squatting to document")
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return sink.Count() == 1, "waiting for the call" })
	if p := sink.Calls()[0].Path; p != "/squatter" {
		t.Errorf("called %s, want the squatter's /squatter (the documented limit)", p)
	}
}

// TestHostileTraceparent: a traceparent with a control byte is ignored (a
// new trace), never forwarded; net/http would refuse the request, which was
// classed a transport error, retried and counted against the breaker, so
// ten such jobs opened it and sent the clean ones to fallback. Now all 20
// are delivered and every traceparent the target gets is valid.
func TestHostileTraceparent(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results.tp")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"concurrency": 1,
		"breaker":     testenv.M{"consecutive_failures": 5, "open_timeout": "1h"}})})))
	const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var msgs []testenv.Msg
	for i := range 10 {
		m := testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("tp-bad-%d", i), ReplyTo: "app.results.tp"})
		m.Header = nats.Header{"Traceparent": {good + "\x01"}, schemas.HeaderTraceID: {"bad\x01id"}}
		msgs = append(msgs, m)
	}
	for i := range 10 {
		msgs = append(msgs, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("tp-clean-%d", i), ReplyTo: "app.results.tp"}))
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) { return results.Len() >= 20, fmt.Sprintf("%d of 20 results", results.Len()) })
	for _, r := range results.All() {
		if r.Outcome != schemas.OutcomeDelivered || !schemas.ValidTraceID(r.TraceID) {
			t.Errorf("%s: %s, trace %q; want delivered with a valid trace", r.JobID, r.Outcome, r.TraceID)
		}
	}
	for _, c := range sink.Calls() {
		if tp := c.Header.Get("Traceparent"); len(tp) != 55 || strings.ContainsAny(tp, "\x00\x01\r\n") {
			t.Errorf("%s sent traceparent %q", c.Key, tp)
		}
	}
	if n := len(testenv.Fallbacks(t, b.JS, "a")); n != 0 {
		t.Errorf("%d fallbacks: the bad traceparents opened the breaker", n)
	}
}

// TestHostilePath: a path whose dot-segments (decoded: %2e, %2f, a
// backslash) climb above the endpoint's base path is refused; any other is
// sent byte for byte.
func TestHostilePath(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL + "/api")})))
	escapes := []string{"/../admin", "/%2e%2e/admin", "/a/..%2f..%2fadmin", "/..%5cadmin"}
	for i, p := range escapes {
		b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("esc-%d", i), Path: p}))
	}
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "inside", Path: "/v1/../v2/x?q=../../y"}))
	dls := testenv.WaitDeadLetters(t, b.JS, "a", len(escapes), 20*time.Second)
	for _, d := range dls {
		if d.Rec.Reason != schemas.ReasonInvalid || !strings.Contains(d.Rec.Error, "path") {
			t.Errorf("%s: %s %q, want invalid for its path", d.Header.Get(schemas.HeaderJobID), d.Rec.Reason, d.Rec.Error)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return sink.Count() == 1, "waiting for the call" })
	if p := sink.Calls()[0].Path; p != "/api/v1/../v2/x?q=../../y" {
		t.Errorf("sent %q, want the path byte for byte after the base", p)
	}
}

// TestHostileOrphanRedactionFollowsReload: the orphan sweeper redacts with
// the security config in effect: a header named in redact_headers by a
// reload is redacted in an orphan's dead letter.
func TestHostileOrphanRedactionFollowsReload(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	yamlOf := func(redact []string) string {
		return b.Config(testenv.M{"security": testenv.M{"redact_headers": redact}}, testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)}))
	}
	svc := testenv.RunService(t, yamlOf(nil))
	cfg, err := config.Parse([]byte(yamlOf([]string{"X-New-Secret"})), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	b.Publish(t, testenv.JobMsg("ghost", schemas.Job{ID: "orphan-secret", Headers: map[string]string{"X-New-Secret": "s3cr3t-value"}}))
	d := testenv.WaitDeadLetters(t, b.JS, "ghost", 1, 20*time.Second)[0]
	if strings.Contains(string(d.Data), "s3cr3t-value") {
		t.Errorf("the orphan's dead letter holds the secret: %s", d.Data)
	}
	if !strings.Contains(string(d.Data), schemas.Redacted) {
		t.Errorf("the orphan's dead letter has no [REDACTED]: %s", d.Data)
	}
}
