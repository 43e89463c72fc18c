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

func TestSinkTargetPaths(t *testing.T) {
	for _, c := range []struct{ in, target, path string }{
		{"/ok", "", "/ok"},
		{"/t/t00001/ok", "t00001", "/ok"},
		{"/t/t00001/a/fail", "t00001", "/fail"},
		{"/t/t00001", "t00001", "/t00001"},
	} {
		if target, path := splitTargetPath(c.in); target != c.target || path != c.path {
			t.Errorf("splitTargetPath(%q) = %q, %q; want %q, %q", c.in, target, path, c.target, c.path)
		}
	}

	s := newSink(0.2, 1)
	call := func(path, id string) int {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("Idempotency-Key", id)
		rec := httptest.NewRecorder()
		s.handleJob(rec, req)
		return rec.Code
	}
	for i, c := range []struct {
		path string
		want int
	}{
		{"/t/a/ok", 200}, {"/t/a/ok", 200}, {"/t/b/ok", 200}, {"/t/c/x/fail", 503}, {"/t/c/nothing", 404},
	} {
		if got := call(c.path, fmt.Sprint("id-", i)); got != c.want {
			t.Errorf("%s: %d, want %d", c.path, got, c.want)
		}
	}
	call("/t/a/ok", "id-0") // the same id again counts once
	if got := fmt.Sprint(s.okBy); got != "map[a:2 b:1]" {
		t.Errorf("ids answered 2xx by target = %s, want map[a:2 b:1]", got)
	}
	if st := s.snapshot(); st.OKIDs != 3 || st.Status["503"] != 1 {
		t.Errorf("stats = %+v, want 3 ids answered 2xx and one 503", st)
	}
}
