package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// statuses calls path n times on a fresh sink, every call for job ids
// ids[i%len(ids)], and returns the answered statuses in order.
func statuses(t *testing.T, seed uint64, path string, n int, ids ...string) []int {
	t.Helper()
	s := newSink(0.2, seed)
	out := make([]int, n)
	for i := range out {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("Idempotency-Key", ids[i%len(ids)])
		rec := httptest.NewRecorder()
		s.handleJob(rec, req)
		out[i] = rec.Code
	}
	return out
}

func share503(codes []int) float64 {
	n := 0
	for _, c := range codes {
		if c == http.StatusServiceUnavailable {
			n++
		}
	}
	return float64(n) / float64(len(codes))
}

func TestSinkFlakyRandom(t *testing.T) {
	const n = 20000
	a := statuses(t, 7, "/flaky-random", n, "job-1")
	if got := share503(a); got < 0.18 || got > 0.22 {
		t.Errorf("share of 503 = %.3f, want about 0.2", got)
	}

	t.Run("same seed, same draws whoever the job", func(t *testing.T) {
		b := statuses(t, 7, "/flaky-random", n, "x", "y", "z")
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Error("two sinks with the same seed answered differently")
		}
	})
	t.Run("another seed, other draws", func(t *testing.T) {
		if c := statuses(t, 8, "/flaky-random", n, "job-1"); fmt.Sprint(a) == fmt.Sprint(c) {
			t.Error("seeds 7 and 8 answered the same")
		}
	})
	t.Run("/flaky still decides by job and call number", func(t *testing.T) {
		x := statuses(t, 7, "/flaky", 50, "job-1")
		y := statuses(t, 99, "/flaky", 50, "job-1")
		if fmt.Sprint(x) != fmt.Sprint(y) {
			t.Error("/flaky depends on the seed")
		}
	})
	t.Run("?p= overrides", func(t *testing.T) {
		if got := share503(statuses(t, 7, "/flaky-random?p=0", 1000, "job-1")); got != 0 {
			t.Errorf("p=0: share of 503 = %.3f", got)
		}
	})
}
