package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The sink is the HTTP target of every run. It answers by path:
//
//	/ok     200
//	/flaky         503 with probability p (the -flaky-p flag or a ?p= query), else 200,
//	               decided by the job id and the call's number for that id
//	/flaky-random  the same, decided by a random draw per call from a source
//	               seeded with -seed
//	/hole   nothing: holds the request until the client gives up
//	/slow   200 after ?ms= milliseconds (default 50)
//	/fail   503, always
//
// each also under /t/<target>/ (an endpoint per target, with any path
// between: /t/<target>/a/ok is /ok), and records, per job id (the
// Idempotency-Key header), the number of calls and the receipt time of the
// first call it answered 2xx, and per target the ids answered 2xx. The
// harness reads it through control endpoints:
//
//	GET /_stats                 sinkStats
//	GET /_dump                  {"<id>": <first 2xx receipt, unix nanos>, ...}
//	GET /_wait?n=N&timeout=D    sinkStats once N distinct ids were answered 2xx, or at D
//	GET /_targets               {"<target>": <ids answered 2xx>, ...}
//
// Whether a call to /flaky fails is a hash of the job id and the call's
// number for that id, so every system under test meets the same failures.
// A call to /flaky-random fails on a draw of its own, whoever the job is
// and however often it was called: two sinks with the same seed make the
// same sequence of draws, in the order the calls arrive.

// sinkStats is what /_stats and /_wait return.
type sinkStats struct {
	OKIDs     int            `json:"ok_ids"`      // distinct ids answered 2xx
	Calls     int            `json:"calls"`       // every call to a job path
	Status    map[string]int `json:"status"`      // calls by answered status ("held" for /hole)
	HoleGone  int            `json:"hole_gone"`   // /hole calls whose client gave up
	FirstOKNs int64          `json:"first_ok_ns"` // receipt of the first 2xx call
	LastOKNs  int64          `json:"last_ok_ns"`  // receipt of the first 2xx call of the last id
}

type sink struct {
	p    float64
	done chan struct{} // closed at shutdown: held calls let go

	mu      sync.Mutex
	rng     *rand.Rand // /flaky-random's draws
	stats   sinkStats
	firstOK map[string]int64
	calls   map[string]uint32
	okBy    map[string]int        // target (of /t/<target>/…) → ids answered 2xx
	waiters map[chan struct{}]int // closed once OKIDs reaches the value
}

func sinkMain(args []string) int {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	p := fs.Float64("flaky-p", 0.2, "share of /flaky and /flaky-random calls answered 503")
	seed := fs.Uint64("seed", 1, "seed of /flaky-random's draws")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	s := newSink(*p, *seed)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		return exitFailure
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_stats", s.handleStats)
	mux.HandleFunc("GET /_dump", s.handleDump)
	mux.HandleFunc("GET /_wait", s.handleWait)
	mux.HandleFunc("/ok", s.handleJob)
	mux.HandleFunc("/flaky", s.handleJob)
	mux.HandleFunc("/flaky-random", s.handleJob)
	mux.HandleFunc("/hole", s.handleJob)
	mux.HandleFunc("/slow", s.handleJob)
	mux.HandleFunc("/fail", s.handleJob)
	mux.HandleFunc("/t/", s.handleJob)
	mux.HandleFunc("GET /_targets", s.handleTargets)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("listening http://%s\n", ln.Addr())

	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintln(os.Stderr, "sink:", err)
		return exitFailure
	}
	close(s.done)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "sink: shutdown:", err)
	}
	return exitOK
}

// newSink returns a sink answering /flaky and /flaky-random 503 with
// probability p, /flaky-random's draws seeded with seed.
func newSink(p float64, seed uint64) *sink {
	return &sink{
		p: p, done: make(chan struct{}), rng: rand.New(rand.NewPCG(seed, 0)),
		firstOK: map[string]int64{}, calls: map[string]uint32{}, okBy: map[string]int{}, waiters: map[chan struct{}]int{},
		stats: sinkStats{Status: map[string]int{}},
	}
}

func (s *sink) handleJob(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UnixNano()
	_, _ = io.Copy(io.Discard, r.Body)
	id := r.Header.Get("Idempotency-Key")
	target, path := splitTargetPath(r.URL.Path)

	s.mu.Lock()
	s.calls[id]++
	n := s.calls[id]
	s.stats.Calls++
	var draw float64 // /flaky-random's
	if path == "/flaky-random" {
		draw = s.rng.Float64()
	}
	s.mu.Unlock()

	switch path {
	case "/hole":
		s.count("held")
		select {
		case <-r.Context().Done():
			s.mu.Lock()
			s.stats.HoleGone++
			s.mu.Unlock()
		case <-s.done:
		case <-time.After(10 * time.Minute):
		}
		return
	case "/slow":
		d := 50 * time.Millisecond
		if ms, err := strconv.Atoi(r.URL.Query().Get("ms")); err == nil && ms >= 0 {
			d = time.Duration(ms) * time.Millisecond
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	case "/fail":
		s.count("503")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case "/flaky", "/flaky-random":
		p := s.p
		if q := r.URL.Query().Get("p"); q != "" {
			if v, err := strconv.ParseFloat(q, 64); err == nil {
				p = v
			}
		}
		failed := draw < p
		if path == "/flaky" {
			failed = fails(id, n, p)
		}
		if failed {
			s.count("503")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	case "/ok":
	default:
		http.NotFound(w, r)
		return
	}
	s.ok(id, target, now)
	w.WriteHeader(http.StatusOK)
}

// splitTargetPath splits /t/<target>/<anything>/<mode> into the target and
// /<mode>; any other path is returned as it is, with no target.
func splitTargetPath(p string) (target, path string) {
	rest, ok := strings.CutPrefix(p, "/t/")
	if !ok {
		return "", p
	}
	target, _, _ = strings.Cut(rest, "/")
	return target, p[strings.LastIndexByte(p, '/'):]
}

// fails decides, from the job id and the call number, whether a flaky call
// is answered 503.
func fails(id string, n uint32, p float64) bool {
	h := fnv.New64a()
	_, _ = io.WriteString(h, id)
	_, _ = h.Write([]byte{'/', byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)})
	return float64(h.Sum64()>>11)/float64(1<<53) < p
}

func (s *sink) count(status string) {
	s.mu.Lock()
	s.stats.Status[status]++
	s.mu.Unlock()
}

func (s *sink) ok(id, target string, now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Status["200"]++
	if _, seen := s.firstOK[id]; seen {
		return
	}
	s.firstOK[id] = now
	s.stats.OKIDs++
	if target != "" {
		s.okBy[target]++
	}
	if s.stats.FirstOKNs == 0 || now < s.stats.FirstOKNs {
		s.stats.FirstOKNs = now
	}
	s.stats.LastOKNs = max(s.stats.LastOKNs, now)
	for ch, n := range s.waiters {
		if s.stats.OKIDs >= n {
			close(ch)
			delete(s.waiters, ch)
		}
	}
}

func (s *sink) snapshot() sinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Status = make(map[string]int, len(s.stats.Status))
	for k, v := range s.stats.Status {
		st.Status[k] = v
	}
	return st
}

func (s *sink) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.snapshot())
}

func (s *sink) handleDump(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := make(map[string]int64, len(s.firstOK))
	for k, v := range s.firstOK {
		out[k] = v
	}
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *sink) handleTargets(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := make(map[string]int, len(s.okBy))
	for k, v := range s.okBy {
		out[k] = v
	}
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *sink) handleWait(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil {
		http.Error(w, "n: "+err.Error(), http.StatusBadRequest)
		return
	}
	timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil || timeout <= 0 || timeout > time.Minute {
		http.Error(w, "timeout: want a duration up to 1m", http.StatusBadRequest)
		return
	}
	ch := make(chan struct{})
	s.mu.Lock()
	if s.stats.OKIDs >= n {
		close(ch)
	} else {
		s.waiters[ch] = n
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiters, ch)
		s.mu.Unlock()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-r.Context().Done():
	case <-s.done:
	}
	writeJSON(w, s.snapshot())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
