package testenv

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Call is one request a Sink received.
type Call struct {
	Method string
	// Path is the request URI as sent: path and query.
	Path   string
	Header http.Header
	Body   []byte
	// Key is the Idempotency-Key header.
	Key string
	// N is the number of this call among the calls with the same Key (1 for
	// the first).
	N        int
	Arrived  time.Time
	Finished time.Time
	// Status is what the behaviour answered (0 when it wrote nothing).
	Status int
	// ClientGone reports that the client went away before the behaviour
	// was done with the call.
	ClientGone bool
}

// Sink is an HTTP target on 127.0.0.1 that records every call and answers
// with a swappable Behaviour (OK by default).
type Sink struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL string

	srv      *httptest.Server
	done     chan struct{} // closed at cleanup: held calls let go
	mu       sync.Mutex
	calls    []*Call
	perKey   map[string]int
	inFlight int
	maxIn    int
	behave   Behaviour
	conns    atomic.Int64 // TCP connections accepted
}

// NewSink starts a Sink answering OK; it is closed at cleanup, after
// releasing calls a behaviour still holds.
func NewSink(t testing.TB) *Sink {
	t.Helper()
	s := &Sink{done: make(chan struct{}), perKey: map[string]int{}, behave: OK()}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.srv.Start()
	s.URL = s.srv.URL
	t.Cleanup(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
	return s
}

// SetBehaviour replaces how the sink answers from the next call on.
func (s *Sink) SetBehaviour(b Behaviour) {
	s.mu.Lock()
	s.behave = b
	s.mu.Unlock()
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := &Call{
		Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body,
		Key: r.Header.Get("Idempotency-Key"), Arrived: time.Now(),
	}
	s.mu.Lock()
	s.perKey[c.Key]++
	c.N = s.perKey[c.Key]
	s.calls = append(s.calls, c)
	s.inFlight++
	s.maxIn = max(s.maxIn, s.inFlight)
	b := s.behave
	s.mu.Unlock()

	rec := &statusWriter{ResponseWriter: w}
	gone := b(rec, r, &Env{N: c.N, Done: s.done})

	s.mu.Lock()
	c.Finished = time.Now()
	c.Status = rec.status
	c.ClientGone = gone || r.Context().Err() != nil
	s.inFlight--
	s.mu.Unlock()
}

// Calls returns a copy of every call so far, in arrival order.
func (s *Sink) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
	}
	return out
}

// ByKey returns the calls by Idempotency-Key, each list in arrival order.
func (s *Sink) ByKey() map[string][]Call {
	out := map[string][]Call{}
	for _, c := range s.Calls() {
		out[c.Key] = append(out[c.Key], c)
	}
	return out
}

// Count is the number of calls received.
func (s *Sink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// Conns is the number of TCP connections the sink accepted.
func (s *Sink) Conns() int { return int(s.conns.Load()) }

// Distinct is the number of distinct Idempotency-Keys received.
func (s *Sink) Distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.perKey)
}

// Answered returns the keys that got at least one answer with status code
// (finished, the client still there), sorted.
func (s *Sink) Answered(code int) []string {
	seen := map[string]bool{}
	for _, c := range s.Calls() {
		if !c.Finished.IsZero() && c.Status == code && !c.ClientGone {
			seen[c.Key] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// InFlight is the number of calls being answered right now.
func (s *Sink) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// MaxInFlight is the most calls ever answered at once.
func (s *Sink) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxIn
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the server's writer (Hijack).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
