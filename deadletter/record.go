package deadletter

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Record is one dead letter as stored in the dead-letter stream.
type Record struct {
	// Seq is the record's stream sequence: its address for Get, Replay and
	// Purge.
	Seq uint64
	// Time is when JetStream stored the record.
	Time time.Time
	// Subject is <p>.dlq.<target>; Target is everything after <p>.dlq.:
	// a target's name, or for an orphan the rest of the subject it was
	// published on (<p>.jobs.<rest>), however many tokens that has.
	Subject, Target string
	// Reason, ErrorClass and JobID come from the record's headers, else
	// from its body. JobID is empty when the job could not be decoded.
	Reason, ErrorClass, JobID string
	// Truncated is the record's Dispatch-Truncated header: what it lost to
	// fit the NATS max payload, "" for nothing (Cut reads it as a list).
	Truncated string
	// Data is the record as stored (JSON, schemas/deadletter.v1.schema.json).
	Data []byte

	decoded *schemas.DeadLetter
	err     error
}

// newRecord builds a Record from a message stored on subject. data may be
// nil when only the headers were read.
func (s *Store) newRecord(seq uint64, t time.Time, subject string, h nats.Header, data []byte) *Record {
	r := &Record{Seq: seq, Time: t, Subject: subject, Data: data}
	r.Target, _ = s.targetOf(subject)
	r.Reason, r.ErrorClass, r.JobID = h.Get(schemas.HeaderReason), h.Get(schemas.HeaderErrorClass), h.Get(schemas.HeaderJobID)
	r.Truncated = h.Get(schemas.HeaderTruncated)
	if data != nil && !headersComplete(h) {
		if dl, err := r.DeadLetter(); err == nil {
			r.Reason, r.ErrorClass, r.JobID = dl.Reason, dl.ErrorClass, jobID(dl.Job)
		}
	}
	return r
}

// DeadLetter decodes Data (once); the error says why Data is not a
// dead-letter record.
func (r *Record) DeadLetter() (*schemas.DeadLetter, error) {
	if r.decoded == nil && r.err == nil {
		var dl schemas.DeadLetter
		if err := json.Unmarshal(r.Data, &dl); err != nil {
			r.err = fmt.Errorf("record %d is not a dead-letter record: %w", r.Seq, err)
		} else {
			r.decoded = &dl
		}
	}
	return r.decoded, r.err
}

// Fallback decodes Data as a fallback record (a Record of a store made by
// NewFallbackStore); the error says why Data is not one.
func (r *Record) Fallback() (*schemas.Fallback, error) {
	var fb schemas.Fallback
	if err := json.Unmarshal(r.Data, &fb); err != nil {
		return nil, fmt.Errorf("record %d is not a fallback record: %w", r.Seq, err)
	}
	return &fb, nil
}

// Legacy marks of a cut, written by versions that said it in the
// Dispatch-Truncated header as one word or in the error text only.
const (
	legacyCutJobBody  = "job-body"
	legacyBodyDropped = "dropped to fit the NATS max payload]"
	legacyRawCut      = "[raw cut to "
)

// Cut lists what the record lost to fit the NATS max payload
// (schemas.CutParts), from its "truncated" field and its Dispatch-Truncated
// header, in the order they were cut; records of earlier versions, which
// said it with "job-body" or in the error text, are read too. Empty when
// nothing was cut.
func (r *Record) Cut() []string {
	var out []string
	add := func(part string) {
		part = strings.TrimSpace(part)
		if part == legacyCutJobBody {
			part = schemas.CutBody
		}
		if part != "" && !slices.Contains(out, part) {
			out = append(out, part)
		}
	}
	dl, err := r.DeadLetter()
	if err == nil {
		for _, p := range dl.Truncated {
			add(p)
		}
	}
	for _, p := range strings.Split(r.Truncated, ",") {
		add(p)
	}
	if err == nil && strings.Contains(dl.Error, legacyRawCut) {
		add(schemas.CutRaw)
	}
	if err == nil && strings.Contains(dl.Error, legacyBodyDropped) {
		add(schemas.CutBody)
	}
	return out
}

// Summary is the part of a record a listing shows, decoded without the
// history and the job, which makes it several times cheaper than
// DeadLetter.
type Summary struct {
	Attempts   int    `json:"attempts"`
	LastStatus int    `json:"last_status"`
	Error      string `json:"error"`
}

// Summary decodes the listing fields of Data; zero when Data is not a record.
// It reads the top level of the object in one pass, skipping the job and
// the history unparsed, several times faster than json.Unmarshal.
func (r *Record) Summary() Summary {
	if r.decoded != nil {
		return Summary{r.decoded.Attempts, r.decoded.LastStatus, r.decoded.Error}
	}
	var s Summary
	ok := scanTop(r.Data, func(key, value []byte) bool {
		var err error
		switch string(key) {
		case `"attempts"`:
			s.Attempts, err = strconv.Atoi(string(value))
		case `"last_status"`:
			s.LastStatus, err = strconv.Atoi(string(value))
		case `"error"`:
			err = json.Unmarshal(value, &s.Error)
		}
		return err == nil
	})
	if !ok { // not what json.Marshal writes: the slow, sure way
		s = Summary{}
		_ = json.Unmarshal(r.Data, &s)
	}
	return s
}

// headersComplete reports whether the headers say the reason and the error
// class (the writer always sets them; the job id only when there is a job).
func headersComplete(h nats.Header) bool {
	return h.Get(schemas.HeaderReason) != "" && h.Get(schemas.HeaderErrorClass) != ""
}
