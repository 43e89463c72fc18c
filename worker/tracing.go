package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetdispatch/dispatcher/schemas"
)

// tracerName is the instrumentation scope of the worker's spans.
const tracerName = "github.com/jetdispatch/dispatcher/worker"

// SpanAttempt is the name of the span of one HTTP call attempt.
const SpanAttempt = "dispatch.attempt"

// tracer comes from the global provider; it follows the provider that
// SetupTracing (or a test) installs later.
var tracer = otel.Tracer(tracerName)

// tracingOn says a real tracer provider is installed (EnableTracing). Off,
// an attempt starts no span at all: no traceparent parsing, no no-op span
// allocations on the per-job path.
var tracingOn atomic.Bool

// EnableTracing turns the per-attempt spans on or off; whoever installs a
// tracer provider (dispatcher's OTEL_* setup, a test) turns them on.
func EnableTracing(on bool) { tracingOn.Store(on) }

// noSpan is the span of an attempt while tracing is off.
var noSpan = trace.SpanFromContext(context.Background())

// startAttemptSpan starts the span of one attempt as a child of the job's
// remote parent, parsed from parent (a traceparent carrying the job's trace
// id; a span id that is missing or invalid is replaced by a random one). It
// returns the span and the traceparent to send to the target: the span's
// own, or parent itself when tracing is off (the global no-op provider).
func startAttemptSpan(ctx context.Context, t *Target, job *schemas.Job, attempt int, parent string) (context.Context, trace.Span, string) {
	if !tracingOn.Load() {
		return ctx, noSpan, parent
	}
	if psc, ok := parseTraceparent(parent); ok {
		ctx = trace.ContextWithRemoteSpanContext(ctx, psc)
	}
	ctx, span := tracer.Start(ctx, SpanAttempt,
		trace.WithSpanKind(trace.SpanKindClient))
	if !span.IsRecording() {
		return ctx, span, parent
	}
	span.SetAttributes(
		attribute.String("dispatch.target", t.Name),
		attribute.Int("dispatch.attempt", attempt),
		attribute.String("dispatch.job_id", job.ID),
		attribute.String("http.request.method", job.EffectiveMethod()),
	)
	return ctx, span, formatTraceparent(span.SpanContext())
}

// endAttemptSpan records the attempt's result on span and ends it.
func endAttemptSpan(span trace.Span, res *callResult) {
	if span.IsRecording() {
		if res.status > 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", res.status))
		}
		if res.class != "" {
			span.SetAttributes(attribute.String("dispatch.error_class", res.class))
			span.SetStatus(codes.Error, res.errText)
		}
	}
	span.End()
}

// parseTraceparent reads a version-00 traceparent into a remote span
// context; a bad span id is replaced by a random one.
func parseTraceparent(tp string) (trace.SpanContext, bool) {
	parts := strings.Split(strings.TrimSpace(tp), "-")
	if len(parts) != 4 {
		return trace.SpanContext{}, false
	}
	tid, err := trace.TraceIDFromHex(strings.ToLower(parts[1]))
	if err != nil {
		return trace.SpanContext{}, false
	}
	sid, err := trace.SpanIDFromHex(strings.ToLower(parts[2]))
	if err != nil {
		_, _ = rand.Read(sid[:])
	}
	flags := trace.FlagsSampled
	if b, err := hex.DecodeString(parts[3]); err == nil && len(b) == 1 {
		flags = trace.TraceFlags(b[0])
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true}), true
}

// formatTraceparent is the W3C traceparent of sc.
func formatTraceparent(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// newTraceparent builds a W3C traceparent for traceID with a fresh span id.
func newTraceparent(traceID string) string {
	var span [8]byte
	_, _ = rand.Read(span[:])
	return "00-" + traceID + "-" + hex.EncodeToString(span[:]) + "-01"
}

// newTraceID returns 16 random bytes as 32 lowercase hex characters.
func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// traceIDFromParent extracts the trace id of a traceparent header, "" when
// the header is not a valid version-00 traceparent (parseTraceparent).
func traceIDFromParent(tp string) string {
	sc, ok := parseTraceparent(tp)
	if !ok {
		return ""
	}
	return sc.TraceID().String()
}

// jobTrace decides the trace of a delivery: the trace id its retry state
// carries (stateID), else the job's trace_id (jobID), else the trace id of
// the incoming traceparent tp, else a new one. The traceparent sent on is tp
// when it carries that trace id, else a new one for it.
func jobTrace(stateID, jobID, tp string) (traceID, traceparent string) {
	parentID := traceIDFromParent(tp)
	traceID = cmp.Or(stateID, jobID, parentID)
	if traceID == "" {
		traceID = newTraceID()
	}
	if parentID == traceID {
		return traceID, tp
	}
	return traceID, newTraceparent(traceID)
}
