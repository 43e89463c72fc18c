package deadletter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Filter selects dead letters. Every non-empty field must hold for a record
// to be selected; a list field holds when any of its values does. The zero
// Filter selects every record.
type Filter struct {
	// Targets are target names (the record's subject less <p>.dlq.).
	Targets []string
	// Reasons are dead-letter reasons, e.g. "exhausted".
	Reasons []string
	// Classes are error classes, e.g. "http_5xx".
	Classes []string
	// Statuses are ranges of the last HTTP status; 0 is "no status".
	Statuses []StatusRange
	// Since and Until bound the time JetStream stored the record (inclusive).
	Since, Until time.Time
	// JobIDs are job ids.
	JobIDs []string
	// Seqs are stream sequences of records.
	Seqs []uint64
	// MinSeq, when not 0, excludes records stored before this sequence,
	// and MaxSeq, when not 0, those stored after this one.
	MinSeq, MaxSeq uint64
	// Text, when not empty, selects the records whose stored JSON holds it,
	// ignoring ASCII case: a job id, an error's words, a body's value. It
	// reads every record's body, so it is the slowest filter.
	Text string
	// Limit, when not 0, stops at this many records, the oldest first.
	Limit int
}

// StatusRange is an inclusive range of HTTP statuses.
type StatusRange struct{ Min, Max int }

// ParseStatus reads "503", "5xx" (500 to 599) or "none" (0: no HTTP status,
// e.g. a timeout).
func ParseStatus(s string) (StatusRange, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "none" || s == "0" {
		return StatusRange{}, nil
	}
	if len(s) == 3 && s[1:] == "xx" && s[0] >= '1' && s[0] <= '5' {
		base := int(s[0]-'0') * 100
		return StatusRange{base, base + 99}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return StatusRange{}, fmt.Errorf("%w: status %q: want a code like 503, a class like 5xx, or none", ErrInvalidFilter, s)
	}
	return StatusRange{n, n}, nil
}

// String is the form ParseStatus reads.
func (r StatusRange) String() string {
	switch {
	case r.Min == 0 && r.Max == 0:
		return "none"
	case r.Min == r.Max:
		return strconv.Itoa(r.Min)
	case r.Min%100 == 0 && r.Max == r.Min+99:
		return fmt.Sprintf("%dxx", r.Min/100)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// Validate reports a filter that cannot be used, wrapping ErrInvalidFilter.
func (f *Filter) Validate() error {
	for _, t := range f.Targets {
		if !schemas.ValidTarget(t) {
			return fmt.Errorf("%w: target %q: want 1 to 64 letters, digits, _ or -", ErrInvalidFilter, t)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		return fmt.Errorf("%w: since %s is after until %s", ErrInvalidFilter, f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	if f.Limit < 0 {
		return fmt.Errorf("%w: limit %d: must not be negative", ErrInvalidFilter, f.Limit)
	}
	if f.MinSeq != 0 && f.MaxSeq != 0 && f.MinSeq > f.MaxSeq {
		return fmt.Errorf("%w: sequences from %d to %d", ErrInvalidFilter, f.MinSeq, f.MaxSeq)
	}
	if slices.Contains(f.Seqs, 0) {
		return fmt.Errorf("%w: sequence 0: sequences start at 1", ErrInvalidFilter)
	}
	for _, r := range f.Statuses {
		if r.Min > r.Max {
			return fmt.Errorf("%w: status range %d-%d", ErrInvalidFilter, r.Min, r.Max)
		}
	}
	return nil
}

// IsZero reports whether f selects every record.
func (f *Filter) IsZero() bool {
	return len(f.Targets) == 0 && f.onlyTargets()
}

// onlyTargets reports whether f selects every record of its targets (or of
// all targets), so that a whole subject can be worked on at once.
func (f *Filter) onlyTargets() bool {
	return len(f.Reasons) == 0 && len(f.Classes) == 0 && len(f.Statuses) == 0 && f.Since.IsZero() &&
		f.Until.IsZero() && len(f.JobIDs) == 0 && len(f.Seqs) == 0 && f.MinSeq == 0 && f.MaxSeq == 0 && f.Limit == 0 && f.Text == ""
}

// headerSelective reports whether f filters on what the headers say, so
// that a pass over the headers alone can narrow the records down.
func (f *Filter) headerSelective() bool {
	return len(f.Reasons) > 0 || len(f.Classes) > 0 || len(f.JobIDs) > 0
}

// needsBody reports whether matching needs the record's body, beyond what
// its headers say.
func (f *Filter) needsBody() bool { return len(f.Statuses) > 0 || f.Text != "" }

// matchTime reports whether a record stored at t is in [Since, Until].
func (f *Filter) matchTime(t time.Time) bool {
	return (f.Since.IsZero() || !t.Before(f.Since)) && (f.Until.IsZero() || !t.After(f.Until))
}

// matchFields reports whether a record with these reason, class and job id
// is selected (targets, times and sequences are checked elsewhere).
func (f *Filter) matchFields(reason, class, jobID string) bool {
	return oneOf(f.Reasons, reason) && oneOf(f.Classes, class) && oneOf(f.JobIDs, jobID)
}

// matchBody checks what only the body says.
func (f *Filter) matchBody(r *Record) bool {
	if f.Text != "" && !containsFold(r.Data, f.Text) {
		return false
	}
	if len(f.Statuses) == 0 {
		return true
	}
	st := r.Summary().LastStatus
	for _, sr := range f.Statuses {
		if st >= sr.Min && st <= sr.Max {
			return true
		}
	}
	return false
}

// match checks a whole record.
func (f *Filter) match(r *Record) bool {
	return (len(f.Targets) == 0 || slices.Contains(f.Targets, r.Target)) &&
		(f.MaxSeq == 0 || r.Seq <= f.MaxSeq) && r.Seq >= f.MinSeq && f.matchTime(r.Time) &&
		f.matchFields(r.Reason, r.ErrorClass, r.JobID) && f.matchBody(r)
}

// containsFold reports whether data holds text, ASCII letters matched in
// any case.
func containsFold(data []byte, text string) bool {
	if len(text) > len(data) {
		return false
	}
	first := lowerASCII(text[0])
	for i := 0; i+len(text) <= len(data); i++ {
		if lowerASCII(data[i]) != first {
			continue
		}
		j := 1
		for j < len(text) && lowerASCII(data[i+j]) == lowerASCII(text[j]) {
			j++
		}
		if j == len(text) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func oneOf(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
