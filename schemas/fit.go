package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"unicode/utf8"
)

// ErrTooLarge is wrapped when a record does not fit its size limit even cut
// to its minimum — ids, target, reason, class and what is left of the
// error. A server refuses such a record however often it is sent, so its
// job must end without one rather than be redelivered for ever.
var ErrTooLarge = errors.New("record too large")

// JobHeaderRoom is kept under the NATS max payload for the headers a job
// message carries besides its payload: the publisher's own (at most what
// fits beside a payload of security.max_job_bytes), the retry state the
// service adds to a scheduled copy (attempts, first attempt, trace id, and
// a history of 10 attempts: ~1 KiB each at most, an error being capped at
// 512 bytes) and the schedule's own (Nats-Schedule, Nats-Schedule-Target,
// Nats-Msg-Id: ~250 bytes). The same room covers what a dead letter adds
// to its job (the history, the error, the ids and times: under 12 KiB), so
// the record of a valid job fits without a cut.
const JobHeaderRoom = 16 << 10

// MaxJobBytes is security.max_job_bytes as a worker applies it on a
// connection whose max payload is maxPayload: configured, clamped to
// maxPayload - JobHeaderRoom (a bigger job could not be copied for a retry
// nor recorded whole). maxPayload <= JobHeaderRoom (unknown) leaves it as
// configured.
func MaxJobBytes(configured int, maxPayload int64) int {
	if room := maxPayload - JobHeaderRoom; room > 0 && int64(configured) > room {
		return int(room)
	}
	return configured
}

// HeaderSize is the size of NATS message headers h on the wire, as the
// client and the server count it against the max payload ("NATS/1.0\r\n",
// one "Name: value\r\n" per value, a closing "\r\n"); 0 without headers.
func HeaderSize(h map[string][]string) int {
	if len(h) == 0 {
		return 0
	}
	n := len("NATS/1.0\r\n") + 2
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(textproto.TrimString(v)) + 4
		}
	}
	return n
}

// FitDeadLetter encodes rec (with Marshal) in at most limit bytes. A record
// over the limit loses, in the order of CutParts and only until it fits:
// its job's meta, headers and body, a prefix of its raw bytes, its history
// but the last attempt, the rest of its job (keeping its id and target),
// then the end of its error. The encoded record names what it lost in its
// "truncated" field; the same list is returned for the Dispatch-Truncated
// header. rec itself is not changed. The error wraps ErrTooLarge when even
// the smallest record is over limit.
func FitDeadLetter(rec *DeadLetter, limit int) ([]byte, []string, error) {
	c := *rec
	c.Truncated = slices.Clone(rec.Truncated)
	job := &jobCutter{raw: &c.Job}
	return fit(limit, &c.Truncated, func() ([]byte, error) { return Marshal(&c) }, []cutStep{
		{CutMeta, func(int) bool { return job.drop("meta") || dropRaw(&c.Meta) }},
		{CutHeaders, func(int) bool { return job.drop("headers") }},
		{CutBody, func(int) bool { return job.drop("body", "body_base64") }},
		{CutRaw, func(over int) bool { return cutBytes(&c.Raw, base64Cut(over)) }},
		{CutHistory, func(int) bool { return lastAttempt(&c.History) }},
		{CutJob, func(int) bool { return job.reduce() }},
		{CutError, func(over int) bool { return cutText(&c.Error, over) }},
	})
}

// FitFallback encodes rec in at most limit bytes as FitDeadLetter does: a
// fallback record can lose its job's meta, headers and body, then the rest
// of its job.
func FitFallback(rec *Fallback, limit int) ([]byte, []string, error) {
	c := *rec
	c.Truncated = slices.Clone(rec.Truncated)
	job := &jobCutter{raw: &c.Job}
	return fit(limit, &c.Truncated, func() ([]byte, error) { return Marshal(&c) }, []cutStep{
		{CutMeta, func(int) bool { return job.drop("meta") || dropRaw(&c.Meta) }},
		{CutHeaders, func(int) bool { return job.drop("headers") }},
		{CutBody, func(int) bool { return job.drop("body", "body_base64") }},
		{CutJob, func(int) bool { return job.reduce() }},
	})
}

// FitResult encodes r in at most limit bytes as FitDeadLetter does: a
// result can lose its meta, the end of its body, then the end of its error.
func FitResult(r *Result, limit int) ([]byte, []string, error) {
	c := *r
	c.Truncated = slices.Clone(r.Truncated)
	return fit(limit, &c.Truncated, func() ([]byte, error) { return Marshal(&c) }, []cutStep{
		{CutMeta, func(int) bool { return dropRaw(&c.Meta) }},
		{CutBody, func(over int) bool { return cutText(&c.Body, over) }},
		{CutError, func(over int) bool { return cutText(&c.Error, over) }},
	})
}

// cutStep cuts one part of a record: cut is called with how many bytes the
// encoded record is over its limit and reports whether it changed
// anything; it is called again while the record is still over and it
// does.
type cutStep struct {
	part string
	cut  func(over int) bool
}

// fit runs the steps in order, re-encoding after each cut and stopping as
// soon as the record fits; truncated is the record's own list of what it
// lost, which each step that cut something joins (once).
func fit(limit int, truncated *[]string, encode func() ([]byte, error), steps []cutStep) ([]byte, []string, error) {
	data, err := encode()
	if err != nil || len(data) <= limit {
		return data, nil, err
	}
	for _, s := range steps {
		for s.cut(len(data) - limit) {
			if !slices.Contains(*truncated, s.part) {
				*truncated = append(*truncated, s.part)
			}
			if data, err = encode(); err != nil || len(data) <= limit {
				return data, slices.Clone(*truncated), err
			}
		}
	}
	return nil, nil, fmt.Errorf("%w: %d bytes cut to its minimum, over the limit of %d", ErrTooLarge, len(data), limit)
}

// jobCutter edits the members of a record's job, a JSON object (anything
// else is left alone).
type jobCutter struct {
	raw *json.RawMessage
	obj map[string]json.RawMessage
	bad bool // not an object
}

func (j *jobCutter) object() map[string]json.RawMessage {
	if j.obj == nil && !j.bad {
		if len(*j.raw) == 0 || json.Unmarshal(*j.raw, &j.obj) != nil || j.obj == nil {
			j.bad, j.obj = true, nil
		}
	}
	return j.obj
}

// drop removes the members named; it reports whether one was there.
func (j *jobCutter) drop(names ...string) bool {
	obj := j.object()
	n := len(obj)
	for _, k := range names {
		delete(obj, k)
	}
	if len(obj) == n {
		return false
	}
	return j.store()
}

// reduce keeps only the job's id and target, when they are valid ones.
func (j *jobCutter) reduce() bool {
	obj := j.object()
	if obj == nil {
		return false
	}
	keep := map[string]json.RawMessage{}
	for k, valid := range map[string]func(string) bool{"id": ValidJobID, "target": ValidTarget} {
		var s string
		if json.Unmarshal(obj[k], &s) == nil && valid(s) {
			keep[k] = obj[k]
		}
	}
	if len(keep) == len(obj) {
		return false
	}
	j.obj = keep
	return j.store()
}

func (j *jobCutter) store() bool {
	b, err := Marshal(j.obj)
	if err != nil {
		return false
	}
	*j.raw = b
	return true
}

// dropRaw drops a JSON member written only when set (omitempty).
func dropRaw(m *json.RawMessage) bool {
	if len(*m) == 0 {
		return false
	}
	*m = nil
	return true
}

// lastAttempt cuts a history to its last attempt.
func lastAttempt(h *[]Attempt) bool {
	if len(*h) <= 1 {
		return false
	}
	*h = (*h)[len(*h)-1:]
	return true
}

// base64Cut is how many raw bytes to cut for their base64 form to lose at
// least over bytes (4 characters per 3 bytes, padding included).
func base64Cut(over int) int { return (over+3)/4*3 + 3 }

// cutBytes cuts n bytes off the end of b; it reports false when b is
// already empty.
func cutBytes(b *[]byte, n int) bool {
	if len(*b) == 0 {
		return false
	}
	*b = (*b)[:max(len(*b)-n, 0)]
	return true
}

// cutText cuts the end of s so that its JSON form (as Marshal writes it)
// loses at least n bytes, at a character boundary, and no more than that
// needs; false when s is already empty.
func cutText(s *string, n int) bool {
	if *s == "" {
		return false
	}
	sizes := 0
	for i := 0; i < len(*s); {
		w, enc := jsonChar(*s, i)
		sizes += enc
		i += w
	}
	budget, keep := sizes-n, 0
	for keep < len(*s) {
		w, enc := jsonChar(*s, keep)
		if budget -= enc; budget < 0 {
			break
		}
		keep += w
	}
	*s = (*s)[:keep]
	return true
}

// jsonChar reads the character of s at i: its width in s and the bytes it
// takes in a JSON string as Marshal (encoding/json without HTML escaping)
// writes it.
func jsonChar(s string, i int) (width, encoded int) {
	if c := s[i]; c < utf8.RuneSelf {
		switch {
		case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
			return 1, 2
		case c < 0x20:
			return 1, 6 // \u00XX
		}
		return 1, 1
	}
	r, width := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && width == 1 || r == '\u2028' || r == '\u2029' {
		return width, 6 // \ufffd, \u2028, \u2029
	}
	return width, width
}
