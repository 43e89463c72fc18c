package deadletter

import (
	"fmt"
	"time"
)

// ParseWhen reads the bound of a time filter (Since, Until) as dispatcher
// dlq ls, audit ls and the console take it: a duration back from now
// ("90m", "24h"), or a time: RFC 3339, a date, or a date and time without
// zone (UTC) written with a T or a space, to the second or, as an
// <input type=datetime-local> sends it, to the minute. "" is the zero
// time: no bound.
func ParseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%s: give a positive duration (how long ago)", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want a duration ago (90m, 24h) or a time (2026-11-26, 2026-11-26T09:00:00Z)", s)
}
