package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/jetdispatch/dispatcher/worker"
)

// ErrTracing is wrapped by errors of SetupTracing.
var ErrTracing = errors.New("tracing")

// TracingEnabled reports whether the OTEL_* environment (read with getenv)
// asks for a trace exporter: OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint
// set while OTEL_TRACES_EXPORTER is unset. OTEL_TRACES_EXPORTER=none or
// OTEL_SDK_DISABLED=true turn tracing off.
func TracingEnabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch tracesExporter(getenv) {
	case "none":
		return false
	case "otlp":
		return true
	case "":
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	}
	return false
}

// tracesExporter is OTEL_TRACES_EXPORTER as compared: trimmed, lower case.
func tracesExporter(getenv func(string) string) string {
	return strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
}

// SetupTracing installs the global OpenTelemetry tracer provider the
// workers' attempt spans go to, configured by the standard OTEL_*
// environment variables (exporter, endpoint, protocol grpc or http/protobuf,
// headers, sampler, resource). When TracingEnabled is false it installs
// nothing: spans are no-ops and cost next to nothing. The returned shutdown
// flushes the spans still buffered; call it before exit.
func SetupTracing(ctx context.Context, serviceName, version string) (shutdown func(context.Context) error, err error) {
	nop := func(context.Context) error { return nil }
	// An exporter this binary lacks is an error, not tracing silently off
	// (this check came after TracingEnabled, which is false for it, and
	// could not be reached).
	if v := tracesExporter(os.Getenv); v != "" && v != "otlp" && v != "none" && !strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return nop, fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%s: only otlp and none are supported", ErrTracing, v)
	}
	if !TracingEnabled(os.Getenv) {
		return nop, nil
	}
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp sdktrace.SpanExporter
	switch proto {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nop, fmt.Errorf("%w: OTEL_EXPORTER_OTLP_PROTOCOL=%s: want grpc or http/protobuf", ErrTracing, proto)
	}
	if err != nil {
		return nop, fmt.Errorf("%w: exporter: %w", ErrTracing, err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.version", version)}
	if os.Getenv("OTEL_SERVICE_NAME") == "" {
		attrs = append(attrs, attribute.String("service.name", serviceName))
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(attrs...), resource.WithFromEnv())
	if err != nil {
		return nop, fmt.Errorf("%w: resource: %w", ErrTracing, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	worker.EnableTracing(true)
	return func(ctx context.Context) error {
		worker.EnableTracing(false)
		return tp.Shutdown(ctx)
	}, nil
}
