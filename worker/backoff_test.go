package worker

import (
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	p := RetryPolicy{InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second, MaxRetryAfter: 3 * time.Second}.withDefaults()
	cases := []struct {
		name       string
		n          int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first retry waits the initial interval", 1, 0, 100 * time.Millisecond},
		{"second doubles", 2, 0, 200 * time.Millisecond},
		{"third doubles again", 3, 0, 400 * time.Millisecond},
		{"capped by max_interval", 10, 0, time.Second},
		{"huge n stays capped", 1000, 0, time.Second},
		{"Retry-After wins", 1, 2 * time.Second, 2 * time.Second},
		{"Retry-After capped by max_retry_after", 1, time.Hour, 3 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := retryDelay(p, c.n, c.retryAfter); got != c.want {
				t.Fatalf("retryDelay(n=%d, retryAfter=%s) = %s, want %s", c.n, c.retryAfter, got, c.want)
			}
		})
	}
}

func TestRetryDelayJitterStaysInRange(t *testing.T) {
	p := RetryPolicy{InitialInterval: time.Second, Multiplier: 2, MaxInterval: time.Minute, Randomization: 0.2}.withDefaults()
	seen := map[time.Duration]bool{}
	for range 200 {
		d := retryDelay(p, 2, 0) // nominal 2s, +-20%
		if d < 1600*time.Millisecond || d > 2400*time.Millisecond {
			t.Fatalf("delay %s outside 2s +-20%%", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 200 draws: no jitter?", len(seen))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name, v string
		want    time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "2", 2 * time.Second},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"http date", "Thu, 26 Nov 2026 10:00:30 GMT", 30 * time.Second},
		{"date in the past", "Thu, 26 Nov 2026 09:00:00 GMT", 0},
		{"garbage", "soon", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := parseRetryAfter(c.v, now); got != c.want {
				t.Fatalf("parseRetryAfter(%q) = %s, want %s", c.v, got, c.want)
			}
		})
	}
}
