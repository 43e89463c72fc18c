package worker

import (
	"context"
	"testing"

	"github.com/jetdispatch/dispatcher/schemas"
)

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		name, tp    string
		ok          bool
		span        string // "" means random
		sampled     bool
		wantTraceID string
	}{
		{"valid", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, "00f067aa0ba902b7", true, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"upper case (W3C: lowercase only)", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", false, "", false, ""},
		{"a control byte", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\x01", false, "", false, ""},
		{"a control byte inside", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9\n2b7-01", false, "", false, ""},
		{"spaces around", " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ", false, "", false, ""},
		{"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, "", false, ""},
		{"a later version with more", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz", true, "00f067aa0ba902b7", true, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"version 00 with more", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz", false, "", false, ""},
		{"not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true, "00f067aa0ba902b7", false, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, "", false, ""},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, "", false, ""},
		{"garbage", "nope", false, "", false, ""},
		{"empty", "", false, "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ok := parseTraceparent(tc.tp)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if !sc.IsValid() || !sc.IsRemote() {
				t.Errorf("span context %v not valid and remote", sc)
			}
			if got := sc.TraceID().String(); got != tc.wantTraceID {
				t.Errorf("trace id %s, want %s", got, tc.wantTraceID)
			}
			if tc.span != "" && sc.SpanID().String() != tc.span {
				t.Errorf("span id %s, want %s", sc.SpanID(), tc.span)
			}
			if sc.IsSampled() != tc.sampled {
				t.Errorf("sampled %v, want %v", sc.IsSampled(), tc.sampled)
			}
			if got := formatTraceparent(sc); len(got) != 55 || got[3:35] != tc.wantTraceID {
				t.Errorf("formatTraceparent = %q", got)
			}
		})
	}
}

func TestTraceparent(t *testing.T) {
	id := newTraceID()
	if len(id) != 32 {
		t.Fatalf("trace id %q", id)
	}
	tp := newTraceparent(id)
	if got := traceIDFromParent(tp); got != id {
		t.Fatalf("traceIDFromParent(%q) = %q, want %q", tp, got, id)
	}
	for _, bad := range []string{"", "00-xyz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage"} {
		if got := traceIDFromParent(bad); got != "" {
			t.Errorf("traceIDFromParent(%q) = %q, want empty", bad, got)
		}
	}
}

func TestJobTrace(t *testing.T) {
	const (
		stateID = "11111111111111111111111111111111"
		jobID   = "22222222222222222222222222222222"
		tpID    = "4bf92f3577b34da6a3ce929d0e0e4736"
		tp      = "00-" + tpID + "-00f067aa0ba902b7-01"
	)
	for _, tc := range []struct {
		name, stateID, jobID, tp string
		wantID                   string // "" means a new one
		keepTP                   bool   // the incoming traceparent is sent on
	}{
		{"retry state wins", stateID, jobID, tp, stateID, false},
		{"job trace_id next", "", jobID, tp, jobID, false},
		{"incoming traceparent next", "", "", tp, tpID, true},
		{"same id everywhere keeps the parent", tpID, tpID, tp, tpID, true},
		{"nothing: a new trace", "", "", "", "", false},
		{"bad traceparent: a new trace", "", "", "garbage", "", false},
		{"a control byte: a new trace, the header not sent on", "", "", tp + "\x01", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, parent := jobTrace(tc.stateID, tc.jobID, tc.tp)
			if tc.wantID != "" && id != tc.wantID {
				t.Errorf("trace id %s, want %s", id, tc.wantID)
			}
			if len(id) != 32 {
				t.Fatalf("trace id %q", id)
			}
			if got := traceIDFromParent(parent); got != id {
				t.Errorf("traceparent %q carries %q, want the trace id %s", parent, got, id)
			}
			if (parent == tc.tp) != tc.keepTP {
				t.Errorf("traceparent %q, incoming %q: kept %v, want %v", parent, tc.tp, parent == tc.tp, tc.keepTP)
			}
		})
	}
}

// BenchmarkAttemptSpanOff is the cost of an attempt's span with tracing off
// (the global no-op provider).
func BenchmarkAttemptSpanOff(b *testing.B) {
	t := &Target{Name: "payments"}
	job := &schemas.Job{ID: "ord-1"}
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	b.ReportAllocs()
	for b.Loop() {
		_, span, _ := startAttemptSpan(context.Background(), t, job, 1, tp)
		endAttemptSpan(span, &callResult{status: 200})
	}
}

// traceIDFromParent is the trace id parseTraceparent reads in a
// traceparent header, "" when it is not a valid version-00 one.
func traceIDFromParent(tp string) string {
	sc, ok := parseTraceparent(tp)
	if !ok {
		return ""
	}
	return sc.TraceID().String()
}
