package worker

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseRetryAfter: any header value gives a delay in [0, 1 year], never
// a panic, and a plain number of seconds is read as exactly that.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "2", "120", "-1", "99999999999999999999", "1.5", " 7 ",
		"Thu, 26 Nov 2026 10:00:30 GMT", "Thursday, 26-Nov-26 10:00:30 GMT", "Thu Nov 26 10:00:30 2026", "soon", "\x00"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 || d > 366*24*time.Hour {
			t.Fatalf("parseRetryAfter(%q) = %s, out of [0, 1y]", v, d)
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 && n <= 365*24*3600 {
			if want := time.Duration(n) * time.Second; d != want {
				t.Fatalf("parseRetryAfter(%q) = %s, want %s", v, d, want)
			}
		}
	})
}
