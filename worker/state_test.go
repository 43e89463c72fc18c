package worker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
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

// A trace id a publisher put in Dispatch-Trace-Id reaches records and
// results only when it is one (32 lowercase hex, not all zero); else it is
// ignored and the job gets its trace from elsewhere or a new one.
func TestReadStateIgnoresBadTraceID(t *testing.T) {
	for _, c := range []struct {
		v, want string
	}{
		{"4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"4BF92F3577B34DA6A3CE929D0E0E4736", ""},
		{"00000000000000000000000000000000", ""},
		{"not-a-trace", ""},
		{"4bf92f3577b34da6a3ce929d0e0e47360", ""},
	} {
		s := readState(nats.Header{schemas.HeaderTraceID: {c.v}})
		if s.traceID != c.want {
			t.Errorf("Dispatch-Trace-Id %q: trace id %q, want %q", c.v, s.traceID, c.want)
		}
		if id, _ := jobTrace(s.traceID, "", ""); !schemas.ValidTraceID(id) || (c.want != "" && id != c.want) {
			t.Errorf("Dispatch-Trace-Id %q: job trace %q", c.v, id)
		}
	}
}

// fitHistory trims the oldest attempts of a retry copy until it fits the
// max payload, and nothing else: the job's bytes and other headers stay.
func TestFitHistory(t *testing.T) {
	var s retryState
	for i := range 10 {
		s.record(schemas.Attempt{Attempt: i + 1, At: time.Now(), Endpoint: "http://h", Status: 503,
			ErrorClass: schemas.ClassHTTP5xx, Error: strings.Repeat("e", 500)})
	}
	msg := func(data int) *nats.Msg {
		m := nats.NewMsg("dispatch.retry.a.1")
		m.Header.Set("X-Publisher", "kept")
		s.write(m.Header)
		m.Data = bytes.Repeat([]byte("j"), data)
		return m
	}
	const max = 64 << 10
	for _, c := range []struct {
		name     string
		data     int
		min, max int // attempts left in the history
	}{
		{"fits: untouched", 1000, 10, 10},
		{"trimmed to fit", max - 4000, 1, 9},
		{"history dropped", max - 500, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := msg(c.data)
			fitHistory(m, max)
			size := schemas.HeaderSize(m.Header) + len(m.Data)
			var hist []schemas.Attempt
			_ = json.Unmarshal([]byte(m.Header.Get(schemas.HeaderHistory)), &hist)
			if len(hist) < c.min || len(hist) > c.max || size > max || len(m.Data) != c.data || m.Header.Get("X-Publisher") != "kept" {
				t.Errorf("%d bytes, %d attempts left (want %d to %d), data %d bytes", size, len(hist), c.min, c.max, len(m.Data))
			}
			if len(hist) > 0 && hist[len(hist)-1].Attempt != 10 {
				t.Errorf("history ends with attempt %d, want the newest kept", hist[len(hist)-1].Attempt)
			}
			if got := m.Size() - len(m.Subject) - len(m.Data); got != schemas.HeaderSize(m.Header) {
				t.Errorf("schemas.HeaderSize %d, nats counts %d", schemas.HeaderSize(m.Header), got)
			}
		})
	}
}
