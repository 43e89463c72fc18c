package worker

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
)

// historyKeep is how many attempts a job's history keeps (the newest).
const historyKeep = 10

// retryState is what earlier deliveries of a job left behind.
type retryState struct {
	attempts int
	first    time.Time
	history  []schemas.Attempt
	traceID  string
}

func readState(h nats.Header) retryState {
	var s retryState
	if h == nil {
		return s
	}
	if v := h.Get(schemas.HeaderAttempts); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			s.attempts = n
		}
	}
	if v := h.Get(schemas.HeaderFirstAttemptAt); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			s.first = t
		}
	}
	if v := h.Get(schemas.HeaderHistory); v != "" {
		_ = json.Unmarshal([]byte(v), &s.history) // a damaged history is only a loss of detail
	}
	s.traceID = h.Get(schemas.HeaderTraceID)
	return s
}

func (s *retryState) record(a schemas.Attempt) {
	s.attempts = a.Attempt
	if s.first.IsZero() {
		s.first = a.At
	}
	s.history = append(s.history, a)
	if len(s.history) > historyKeep {
		s.history = append([]schemas.Attempt(nil), s.history[len(s.history)-historyKeep:]...)
	}
}

func (s *retryState) write(h nats.Header) {
	h.Set(schemas.HeaderAttempts, strconv.Itoa(s.attempts))
	if !s.first.IsZero() {
		h.Set(schemas.HeaderFirstAttemptAt, s.first.UTC().Format(time.RFC3339Nano))
	}
	if len(s.history) > 0 {
		b, _ := json.Marshal(s.history)
		h.Set(schemas.HeaderHistory, string(b))
	}
	if s.traceID != "" {
		h.Set(schemas.HeaderTraceID, s.traceID)
	}
}
