package schemas

import "time"

// parseDateTime reads s as an RFC 3339 date-time, the way job.v1.schema.json
// checks not_after: the shape
// ^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$
// and the ranges of "format": "date-time": a real calendar date, hour 0-23,
// minute 0-59, second 0-60 where 60 (a leap second) only at 23:59 UTC, and
// an offset of at most 23:59. Fractions finer than a nanosecond are dropped;
// a leap second reads as the first second of the next minute.
func parseDateTime(s string) (time.Time, bool) {
	const minLen = len("2006-01-02T15:04:05Z")
	if len(s) < minLen ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	rest := s[19:]

	nsec := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 9 {
				nsec = nsec*10 + int(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		for i := n; i <= 9; i++ {
			nsec *= 10
		}
		rest = rest[n:]
	}

	offset := 0 // minutes east of UTC
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		zh, okh := digits(rest[1:3])
		zm, okm := digits(rest[4:6])
		if !okh || !okm || zh > 23 || zm > 59 {
			return time.Time{}, false
		}
		offset = zh*60 + zm
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}

	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	if sec == 60 {
		// A leap second is inserted at 23:59:60 UTC only.
		utc := ((hour*60+minute-offset)%1440 + 1440) % 1440
		if utc != 23*60+59 {
			return time.Time{}, false
		}
	}
	loc := time.UTC
	if offset != 0 {
		loc = time.FixedZone("", offset*60)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), true
}

// digits reads s as a run of ASCII decimal digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days of month in year (proleptic Gregorian).
func daysIn(month time.Month, year int) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
