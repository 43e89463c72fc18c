package dispatcher

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestTracingEnabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"otlp exporter", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"otlp exporter, spaces and case", map[string]string{"OTEL_TRACES_EXPORTER": " OTLP "}, true},
		{"none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TracingEnabled(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("TracingEnabled = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSetupTracingOffWhenUnset(t *testing.T) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Setenv(k, "")
	}
	shutdown, err := SetupTracing(context.Background(), "svc", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSetupTracingBadProtocol(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")
	if _, err := SetupTracing(context.Background(), "svc", "dev"); err == nil {
		t.Fatal("no error for an unknown protocol")
	}
}

func TestSetupTracingRefusesUnsupportedExporter(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "jaeger")
	_, err := SetupTracing(context.Background(), "svc", "dev")
	if !errors.Is(err, ErrTracing) || !strings.Contains(err.Error(), "OTEL_TRACES_EXPORTER=jaeger") {
		t.Fatalf("SetupTracing with OTEL_TRACES_EXPORTER=jaeger: %v, want an ErrTracing naming the variable", err)
	}
}
