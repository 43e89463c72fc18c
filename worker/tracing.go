package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
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

// parseTraceparent reads a traceparent by the W3C Trace Context rules:
// version (two lowercase hex digits, not ff), trace-id (32, not all zero),
// parent-id (16, not all zero), trace-flags (2), separated by '-'; exactly
// that for version 00, more after a '-' for a later version. Anything else
// (a control byte, upper case, a zero id) is invalid and ignored: the job
// gets a trace of its own. What is sent on is always formatted anew from
// the parsed values (formatTraceparent), never the header as it came.
func parseTraceparent(tp string) (trace.SpanContext, bool) {
	if len(tp) < 55 || (tp[:2] == "00" && len(tp) != 55) || (len(tp) > 55 && tp[55] != '-') ||
		tp[2] != '-' || tp[35] != '-' || tp[52] != '-' || tp[:2] == "ff" ||
		!lowerHex(tp[:2]) || !lowerHex(tp[3:35]) || !lowerHex(tp[36:52]) || !lowerHex(tp[53:55]) {
		return trace.SpanContext{}, false
	}
	tid, err := trace.TraceIDFromHex(tp[3:35])
	if err != nil { // all zero
		return trace.SpanContext{}, false
	}
	sid, err := trace.SpanIDFromHex(tp[36:52])
	if err != nil { // all zero
		return trace.SpanContext{}, false
	}
	b, _ := hex.DecodeString(tp[53:55])
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(b[0]), Remote: true}), true
}

// lowerHex reports whether s is lowercase hexadecimal digits only.
func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
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

// jobTrace decides the trace of a delivery: the trace id its retry state
// carries (stateID), else the job's trace_id (jobID), else the trace id of
// the incoming traceparent tp, else a new one. The traceparent sent on
// continues tp when tp is valid and carries that trace id (formatted anew:
// never the header as it came), else it is a new one for it.
func jobTrace(stateID, jobID, tp string) (traceID, traceparent string) {
	sc, ok := parseTraceparent(tp)
	parentID := ""
	if ok {
		parentID = sc.TraceID().String()
	}
	traceID = cmp.Or(stateID, jobID, parentID)
	if traceID == "" {
		traceID = newTraceID()
	}
	if ok && parentID == traceID {
		return traceID, formatTraceparent(sc)
	}
	return traceID, newTraceparent(traceID)
}
