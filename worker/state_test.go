package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
)

func TestRetryStateSurvivesHeaders(t *testing.T) {
	var s retryState
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 123_000_000, time.UTC)
	for i := range 12 {
		s.record(schemas.Attempt{Attempt: i + 1, At: t0.Add(time.Duration(i) * time.Second), Endpoint: "http://h",
			Status: 503, ErrorClass: schemas.ClassHTTP5xx, Error: fmt.Sprintf("try %d", i+1), DurationMS: 1.5})
	}
	s.traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	h := nats.Header{}
	s.write(h)
	got := readState(h)
	if got.attempts != 12 {
		t.Errorf("attempts %d, want 12", got.attempts)
	}
	if !got.first.Equal(t0) {
		t.Errorf("first attempt %s, want %s", got.first, t0)
	}
	if len(got.history) != historyKeep || got.history[0].Attempt != 3 || got.history[historyKeep-1].Attempt != 12 {
		t.Errorf("history %d entries from %d, want the last %d (3..12)", len(got.history), got.history[0].Attempt, historyKeep)
	}
	if got.traceID != s.traceID {
		t.Errorf("trace id %q", got.traceID)
	}
}

func TestReadStateToleratesDamage(t *testing.T) {
	cases := []struct {
		name string
		h    nats.Header
	}{
		{"no headers", nil},
		{"garbage attempts", nats.Header{schemas.HeaderAttempts: {"many"}}},
		{"negative attempts", nats.Header{schemas.HeaderAttempts: {"-3"}}},
		{"bad time", nats.Header{schemas.HeaderFirstAttemptAt: {"yesterday"}}},
		{"bad history", nats.Header{schemas.HeaderHistory: {"[{"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := readState(c.h)
			if s.attempts != 0 || !s.first.IsZero() || len(s.history) != 0 {
				t.Fatalf("state %+v from damaged headers, want empty", s)
			}
		})
	}
}
