package worker

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
)

var benchJob = []byte(`{"id":"ord-1001","method":"POST","path":"/v1/charges?src=queue","headers":{"Content-Type":"application/json","X-Tenant":"acme"},"body":{"amount":100,"currency":"EUR","items":[1,2,3]},"reply_to":"app.results","meta":{"order":1001}}`)

// BenchmarkDecodeAndBuildRequest is the per-job cost before the network:
// strict decode, then the HTTP request with its headers.
func BenchmarkDecodeAndBuildRequest(b *testing.B) {
	t := (Target{Name: "pay", Endpoints: []string{"http://127.0.0.1:1"}, Headers: map[string]string{"Authorization": "Bearer x"}}).withDefaults()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		job, err := schemas.DecodeJob(benchJob)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := buildRequest(ctx, &t, t.Endpoints[0], job, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "dispatcher/dev", nil, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassify is the cost of classifying a failure.
func BenchmarkClassify(b *testing.B) {
	refused := &url.Error{Op: "Post", URL: "http://h/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	header := &url.Error{Op: "Post", URL: "http://h/x", Err: errors.New("net/http: timeout awaiting response headers")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = classifyStatus(503)
		_ = classifyError(ctx, refused)
		_ = classifyError(ctx, header)
	}
}

// BenchmarkRecordOutcome is what a delivered job costs after the call: the
// attempt in its history and the result document for reply_to.
func BenchmarkRecordOutcome(b *testing.B) {
	job, err := schemas.DecodeJob(benchJob)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		var s retryState
		s.record(schemas.Attempt{Attempt: 1, At: now, Endpoint: "http://h", Status: 200, DurationMS: 1.5})
		r := schemas.Result{JobID: job.ID, Target: "pay", Outcome: schemas.OutcomeDelivered, Status: 200, Attempts: 1,
			DurationMS: 1.5, Body: `{"ok":true}`, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Meta: job.Meta}
		if _, err := json.Marshal(&r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetryStateRoundTrip is the cost of carrying a job's retry state
// in headers (write on schedule, read on the next delivery).
func BenchmarkRetryStateRoundTrip(b *testing.B) {
	var s retryState
	now := time.Now()
	for i := range 10 {
		s.record(schemas.Attempt{Attempt: i + 1, At: now, Endpoint: "http://h", Status: 503, ErrorClass: schemas.ClassHTTP5xx, Error: "503 Service Unavailable", DurationMS: 3})
	}
	s.traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	b.ReportAllocs()
	for b.Loop() {
		h := nats.Header{}
		s.write(h)
		if got := readState(h); got.attempts != 10 {
			b.Fatal("state lost")
		}
	}
}
