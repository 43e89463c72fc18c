package schemas

import (
	"encoding/json"
	"time"
)

// Job is what a publisher sends on <p>.jobs.<target> (schemas/job.v1.schema.json).
// Decode one with DecodeJob, which enforces the schema's rules.
type Job struct {
	ID          string            `json:"id"`
	Target      string            `json:"target,omitempty"`
	Method      string            `json:"method,omitempty"`
	Path        string            `json:"path,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Body        json.RawMessage   `json:"body,omitempty"`
	BodyBase64  string            `json:"body_base64,omitempty"`
	TimeoutMS   int               `json:"timeout_ms,omitempty"`
	MaxAttempts int               `json:"max_attempts,omitempty"`
	NotAfter    *time.Time        `json:"not_after,omitempty"`
	ReplyTo     string            `json:"reply_to,omitempty"`
	TraceID     string            `json:"trace_id,omitempty"`
	Meta        json.RawMessage   `json:"meta,omitempty"`
}

// Attempt is one HTTP call of a job, as kept in a dead letter's history.
type Attempt struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	Endpoint   string    `json:"endpoint"`
	Status     int       `json:"status"`
	ErrorClass string    `json:"error_class"`
	Error      string    `json:"error"`
	DurationMS float64   `json:"duration_ms"`
	// Sent reports that the request may have reached the target (its
	// headers were written); false for failures to resolve, connect or
	// handshake. Always set by this version; nil in older records.
	Sent *bool `json:"sent,omitempty"`
}

// DeadLetter is a record on <p>.dlq.<target> (schemas/deadletter.v1.schema.json).
// Job is the job as received with secret headers redacted, or null when the
// payload could not be decoded, in which case Raw holds the original bytes.
// The job's meta is in Job; Meta is only read, from records written before
// meta was stored once (use JobMeta). Truncated lists the CutParts the
// record lost to fit the NATS max payload.
type DeadLetter struct {
	Job            json.RawMessage `json:"job"`
	Raw            []byte          `json:"raw"`
	Target         string          `json:"target"`
	Reason         string          `json:"reason"`
	ErrorClass     string          `json:"error_class"`
	Error          string          `json:"error"`
	LastStatus     int             `json:"last_status"`
	Attempts       int             `json:"attempts"`
	History        []Attempt       `json:"history"`
	FirstAttemptAt *time.Time      `json:"first_attempt_at"`
	DeadAt         time.Time       `json:"dead_at"`
	TraceID        string          `json:"trace_id"`
	ServiceName    string          `json:"service_name"`
	Instance       string          `json:"instance"`
	Meta           json.RawMessage `json:"meta,omitempty"`
	Truncated      []string        `json:"truncated,omitempty"`
}

// Fallback is a record on <p>.fallback.<target> (schemas/fallback.v1.schema.json).
// As in a DeadLetter, the job's meta is in Job and Meta is only read from
// older records; Truncated lists what the record lost to fit.
type Fallback struct {
	Job          json.RawMessage `json:"job"`
	Target       string          `json:"target"`
	Reason       string          `json:"reason"`
	Endpoint     string          `json:"endpoint"`
	BreakerState string          `json:"breaker_state"`
	Attempts     int             `json:"attempts"`
	At           time.Time       `json:"at"`
	TraceID      string          `json:"trace_id"`
	ServiceName  string          `json:"service_name"`
	Instance     string          `json:"instance"`
	Meta         json.RawMessage `json:"meta,omitempty"`
	Truncated    []string        `json:"truncated,omitempty"`
}

// FallbackResponse is a target's preset response, carried in a fallback result.
type FallbackResponse struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// Result is what the service publishes to a job's reply_to (schemas/result.v1.schema.json).
// Truncated lists what it lost to fit the NATS max payload (meta, part of
// the body, part of the error).
type Result struct {
	JobID      string            `json:"job_id"`
	Target     string            `json:"target"`
	Outcome    string            `json:"outcome"`
	Status     int               `json:"status"`
	Attempts   int               `json:"attempts"`
	DurationMS float64           `json:"duration_ms"`
	Body       string            `json:"body"`
	ErrorClass string            `json:"error_class"`
	Error      string            `json:"error"`
	Fallback   *FallbackResponse `json:"fallback,omitempty"`
	TraceID    string            `json:"trace_id"`
	Meta       json.RawMessage   `json:"meta,omitempty"`
	Truncated  []string          `json:"truncated,omitempty"`
}

// AuditRecord is a record on <p>.audit.<action> (schemas/audit.v1.schema.json):
// one action of an operator, from the command line or the console.
type AuditRecord struct {
	// ID is unique per record (its Nats-Msg-Id).
	ID string `json:"id"`
	// At is when the action was done.
	At time.Time `json:"at"`
	// Who did it: the console's token name or client address, or
	// "cli:<user>@<host>" for the command line.
	Who string `json:"who"`
	// Action is one of AuditActions.
	Action string `json:"action"`
	// Selection is what the action was done on.
	Selection AuditSelection `json:"selection"`
	// Selected is how many items the selection held (dead letters), and
	// Count how many the action was done on: replayed, deleted, or the one
	// target paused or resumed (0 for the resume of a target not paused).
	Selected int `json:"selected,omitempty"`
	Count    int `json:"count"`
	// Result is one of AuditResults; Error says why when it is not ok.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	// Until is when a pause ends (absent: until resumed), and Reason the
	// text the operator gave with it.
	Until  *time.Time `json:"until,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

// AuditSelection is what an audited action was done on: a target (pause,
// resume), or the filters of a selection of dead letters (replay, purge).
type AuditSelection struct {
	Target   string     `json:"target,omitempty"`
	Targets  []string   `json:"targets,omitempty"`
	Reasons  []string   `json:"reasons,omitempty"`
	Classes  []string   `json:"classes,omitempty"`
	Statuses []string   `json:"statuses,omitempty"`
	JobIDs   []string   `json:"job_ids,omitempty"`
	Seqs     []uint64   `json:"seqs,omitempty"`
	Text     string     `json:"text,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	All      bool       `json:"all,omitempty"`
}

// JobMeta is the meta of the record's job: job.meta, or the top-level meta
// of a record written before meta was stored once; nil when there is none.
func (d *DeadLetter) JobMeta() json.RawMessage { return jobMeta(d.Job, d.Meta) }

// JobMeta is the meta of the record's job, as DeadLetter.JobMeta.
func (f *Fallback) JobMeta() json.RawMessage { return jobMeta(f.Job, f.Meta) }

func jobMeta(job, legacy json.RawMessage) json.RawMessage {
	var j struct {
		Meta json.RawMessage `json:"meta"`
	}
	if len(job) > 0 && json.Unmarshal(job, &j) == nil && len(j.Meta) > 0 && string(j.Meta) != "null" {
		return j.Meta
	}
	if len(legacy) == 0 || string(legacy) == "null" {
		return nil
	}
	return legacy
}
