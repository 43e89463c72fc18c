package worker

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
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
	parks    int // times parked (schemas.ParkReasons)
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
	if v := h.Get(schemas.HeaderParks); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			s.parks = n
		}
	}
	if v := h.Get(schemas.HeaderTraceID); schemas.ValidTraceID(v) { // a publisher's header is not trusted
		s.traceID = v
	}
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
	if s.parks > 0 {
		h.Set(schemas.HeaderParks, strconv.Itoa(s.parks))
	}
}

// headerFrame is what one header line adds to a message besides its name
// and value (": " and "\r\n").
const headerFrame = 4

// fitHistory drops the oldest attempts of m's Dispatch-History until the
// message — its payload and every header — fits maxPayload and the
// server's 64 KiB limit on headers. A retry copy must carry the job as
// sent; the history is the one part of it that may be trimmed (a job
// admitted under security.max_job_bytes leaves room for the rest).
func fitHistory(m *nats.Msg, maxPayload int64) {
	var hist []schemas.Attempt
	for maxPayload > 0 {
		hdr := schemas.HeaderSize(m.Header)
		if int64(hdr+len(m.Data)) <= maxPayload && hdr <= math.MaxUint16 {
			return
		}
		if hist == nil && json.Unmarshal([]byte(m.Header.Get(schemas.HeaderHistory)), &hist) != nil || len(hist) == 0 {
			return
		}
		if hist = hist[1:]; len(hist) == 0 {
			m.Header.Del(schemas.HeaderHistory)
			return
		}
		b, _ := json.Marshal(hist)
		m.Header.Set(schemas.HeaderHistory, string(b))
	}
}

// carriedHeaderBytes is what the headers of a job message that a retry
// copy carries on weigh: all but NATS's own and the retry state
// (Dispatch-Replay-Of is carried), as schedule copies them. Admit counts
// them with the payload against security.max_job_bytes, so that the copy
// always fits.
func carriedHeaderBytes(h nats.Header) int {
	n := 0
	for k, vs := range h {
		if strings.HasPrefix(k, "Nats-") || (strings.HasPrefix(k, "Dispa") && k != schemas.HeaderReplayOf) {
			continue
		}
		for _, v := range vs {
			n += len(k) + len(v) + headerFrame
		}
	}
	return n
}
