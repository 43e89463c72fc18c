package tests

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
	"github.com/jetdispatch/dispatcher/worker"
)

var (
	spansOnce sync.Once
	spans     *tracetest.InMemoryExporter
)

// recordSpans installs, once per test process, a global tracer provider
// that keeps every span in memory. Tests share it and tell their spans
// apart by trace id.
func recordSpans() *tracetest.InMemoryExporter {
	spansOnce.Do(func() {
		spans = tracetest.NewInMemoryExporter()
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))
		worker.EnableTracing(true)
	})
	return spans
}

// spansOf returns the recorded spans of trace id traceID.
func spansOf(exp *tracetest.InMemoryExporter, traceID string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID().String() == traceID {
			out = append(out, s)
		}
	}
	return out
}

// TestTraceAttemptSpans checks that every attempt is a span of the job's
// trace, child of the job's traceparent when the message carried one, and
// that the target receives the span's own traceparent.
func TestTraceAttemptSpans(t *testing.T) {
	t.Parallel()
	exp := recordSpans()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.ByPath(map[string]testenv.Behaviour{
		"/ok":    testenv.OK(),
		"/flaky": testenv.FailFirst(1, 503),
	}))
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"tr": testenv.Target(sink.URL, testenv.M{
		"retry": testenv.M{"max_attempts": 3, "initial_interval": "50ms"},
	})})))

	const (
		fromJob    = "4bf92f3577b34da6a3ce929d0e0e4736"
		fromHeader = "0af7651916cd43dd8448eb211c80319c"
		parentSpan = "b7ad6b7169203331"
	)
	withHeader := testenv.JobMsg("tr", schemas.Job{ID: "tr-header", Path: "/ok", ReplyTo: "app.results"})
	withHeader.Header = nats.Header{"Traceparent": []string{"00-" + fromHeader + "-" + parentSpan + "-01"}}
	b.PublishMany(t, []testenv.Msg{
		testenv.JobMsg("tr", schemas.Job{ID: "tr-job", Path: "/flaky", ReplyTo: "app.results", TraceID: fromJob}),
		withHeader,
	})
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return results.Len() >= 2, fmt.Sprintf("%d results, want 2", results.Len())
	})
	// Spans end right after the call returns; the result follows them.
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		n, m := len(spansOf(exp, fromJob)), len(spansOf(exp, fromHeader))
		return n == 2 && m == 1, fmt.Sprintf("%d and %d spans, want 2 and 1", n, m)
	})

	sent := map[string]bool{} // span ids the target received
	for _, c := range sink.Calls() {
		tp := c.Header.Get("Traceparent")
		var tid, sid string
		if _, err := fmt.Sscanf(tp, "00-%32s", &tid); err != nil || len(tp) != 55 {
			t.Errorf("call %s: traceparent %q is not version-00", c.Key, tp)
			continue
		}
		tid, sid = tp[3:35], tp[36:52]
		want := map[string]string{"tr-job": fromJob, "tr-header": fromHeader}[c.Key]
		if tid != want {
			t.Errorf("call %s: traceparent trace id %s, want %s", c.Key, tid, want)
		}
		sent[sid] = true
	}
	for _, s := range append(spansOf(exp, fromJob), spansOf(exp, fromHeader)...) {
		if s.Name != "dispatch.attempt" {
			t.Errorf("span name %q, want dispatch.attempt", s.Name)
		}
		if !sent[s.SpanContext.SpanID().String()] {
			t.Errorf("span %s was not the parent sent to the target", s.SpanContext.SpanID())
		}
		attrs := map[string]string{}
		for _, a := range s.Attributes {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if attrs["dispatch.target"] != "tr" || attrs["http.request.method"] != "POST" || attrs["dispatch.attempt"] == "" || attrs["dispatch.job_id"] == "" {
			t.Errorf("span attributes %v", attrs)
		}
		if attrs["dispatch.job_id"] == "tr-job" && attrs["dispatch.attempt"] == "1" &&
			(attrs["http.response.status_code"] != "503" || attrs["dispatch.error_class"] != "http_5xx") {
			t.Errorf("first attempt of tr-job: attributes %v, want status 503 class http_5xx", attrs)
		}
	}
	if h := spansOf(exp, fromHeader); len(h) == 1 {
		if p := h[0].Parent; !p.IsRemote() || p.SpanID().String() != parentSpan {
			t.Errorf("span parent %s (remote %v), want the message's span %s", p.SpanID(), p.IsRemote(), parentSpan)
		}
	}
	for _, r := range results.All() {
		want := map[string]string{"tr-job": fromJob, "tr-header": fromHeader}[r.JobID]
		if r.TraceID != want {
			t.Errorf("result %s: trace_id %s, want %s", r.JobID, r.TraceID, want)
		}
	}
}
