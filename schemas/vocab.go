package schemas

// The vocabulary of the service: the values records, results, headers,
// metrics, the CLI and the docs share. Each is defined here once; lists for
// completion, metrics and docs are built from these (never retyped), and
// TestVocabularyMatchesSchemas holds the JSON Schemas' enums to them.

// Outcome values of a Result.
const (
	OutcomeDelivered    = "delivered"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeFallback     = "fallback"
)

// Outcomes lists every outcome, in the order of the contract.
var Outcomes = []string{OutcomeDelivered, OutcomeDeadLettered, OutcomeFallback}

// Dead-letter reasons (docs/contract.md section 3.2).
const (
	ReasonExhausted     = "exhausted"
	ReasonNonRetryable  = "non_retryable"
	ReasonInvalid       = "invalid"
	ReasonExpired       = "expired"
	ReasonUnknownTarget = "unknown_target"
	// ReasonCircuitOpen is the reason of every fallback record.
	ReasonCircuitOpen = "circuit_open"
)

// Reasons lists every dead-letter reason (ReasonCircuitOpen is a fallback
// record's, not a dead letter's).
var Reasons = []string{ReasonExhausted, ReasonNonRetryable, ReasonInvalid, ReasonExpired, ReasonUnknownTarget}

// Error classes (docs/contract.md section 3.3): what went wrong with an
// attempt, or why a job never had one.
const (
	ClassHTTP5xx               = "http_5xx"
	ClassHTTP429               = "http_429"
	ClassHTTP4xx               = "http_4xx"
	ClassTimeoutConnect        = "timeout_connect"
	ClassTimeoutTLS            = "timeout_tls"
	ClassTimeoutResponseHeader = "timeout_response_header"
	ClassTimeoutTotal          = "timeout_total"
	ClassDNS                   = "dns"
	ClassConnectionRefused     = "connection_refused"
	ClassConnectionReset       = "connection_reset"
	ClassTLS                   = "tls"
	ClassSSRFBlocked           = "ssrf_blocked"
	// ClassResponseTooLarge is in the schemas' enum for compatibility; it
	// is never produced: a 2xx over security.max_response_bytes is
	// delivered with its body cut.
	ClassResponseTooLarge = "response_too_large"
	ClassInvalidJob       = "invalid_job"
	ClassUnknownTarget    = "unknown_target"
	ClassExpired          = "expired"
	ClassCircuitOpen      = "circuit_open"
)

// ErrorClasses lists every error class, in the order of the contract.
var ErrorClasses = []string{
	ClassHTTP5xx, ClassHTTP429, ClassHTTP4xx, ClassTimeoutConnect, ClassTimeoutTLS,
	ClassTimeoutResponseHeader, ClassTimeoutTotal, ClassDNS, ClassConnectionRefused,
	ClassConnectionReset, ClassTLS, ClassSSRFBlocked, ClassResponseTooLarge, ClassInvalidJob,
	ClassUnknownTarget, ClassExpired, ClassCircuitOpen,
}

// BreakerState is the state of an endpoint's circuit breaker as records,
// metrics, logs and the fleet's KV bucket spell it.
type BreakerState string

// Breaker states.
const (
	BreakerClosed   BreakerState = "closed"
	BreakerHalfOpen BreakerState = "half_open"
	BreakerOpen     BreakerState = "open"
)

// BreakerStates lists every breaker state, closed first.
var BreakerStates = []BreakerState{BreakerClosed, BreakerHalfOpen, BreakerOpen}

// String returns the state's spelling.
func (s BreakerState) String() string { return string(s) }

// Why a job was parked: scheduled back for later without an attempt.
const (
	// ParkHold: every breaker open with when_open hold, until the end of
	// the hold.
	ParkHold = "hold"
	// ParkBudget: a retry over the retry budget.
	ParkBudget = "budget"
	// ParkBusy: the target's lane would not give it a slot soon (a slow or
	// stuck target, a rate limit far behind): parked until a slot is
	// expected, so that it holds up no partition.
	ParkBusy = "busy"
	// ParkPaused: the target is paused (dispatcher pause): parked until the
	// pause ends, or, for a pause without an end, for as long as the pause
	// has lasted (within bounds), so that no job is parked in a loop.
	ParkPaused = "paused"
)

// ParkReasons lists why jobs are parked.
var ParkReasons = []string{ParkHold, ParkBudget, ParkBusy, ParkPaused}

// Actions of the audit stream (<p>.audit.<action>): what an operator did,
// from the command line or the console.
const (
	// AuditPause: a target paused (dispatcher pause).
	AuditPause = "pause"
	// AuditResume: a target resumed (dispatcher resume).
	AuditResume = "resume"
	// AuditReplay: dead letters replayed (dispatcher dlq replay).
	AuditReplay = "replay"
	// AuditPurge: dead letters purged (dispatcher dlq purge).
	AuditPurge = "purge"
)

// AuditActions lists every audited action.
var AuditActions = []string{AuditPause, AuditResume, AuditReplay, AuditPurge}

// Results of an audited action.
const (
	// AuditOK: the action was done, on everything it selected.
	AuditOK = "ok"
	// AuditPartial: done on part of the selection (some items failed, or
	// the run was interrupted).
	AuditPartial = "partial"
	// AuditFailed: nothing was done.
	AuditFailed = "failed"
)

// AuditResults lists every result of an audited action.
var AuditResults = []string{AuditOK, AuditPartial, AuditFailed}

// Values of retry.after_send: what happens to a failure without a response
// (a reset, a timeout) that came after the request may have reached the
// target. Failures before it (DNS, connect, TLS) and statuses in
// retry_on_status are retried whatever it says.
const (
	// AfterSendRetry retries them (relying on the Idempotency-Key).
	AfterSendRetry = "retry"
	// AfterSendIdempotent retries them for GET, HEAD, PUT, DELETE and
	// OPTIONS only.
	AfterSendIdempotent = "idempotent_methods"
	// AfterSendNever never retries them.
	AfterSendNever = "never"
)

// AfterSendPolicies lists the values of retry.after_send.
var AfterSendPolicies = []string{AfterSendRetry, AfterSendIdempotent, AfterSendNever}

// Message headers the service writes and reads (docs/contract.md
// section 3.9). The retry state travels on a job's scheduled copy; the
// record headers on dead letters and fallback records.
const (
	// HeaderAttempts, HeaderFirstAttemptAt, HeaderHistory and HeaderTraceID
	// carry a job's retry state from one delivery to the next.
	HeaderAttempts       = "Dispatch-Attempts"
	HeaderFirstAttemptAt = "Dispatch-First-Attempt-At"
	HeaderHistory        = "Dispatch-History"
	HeaderTraceID        = "Dispatch-Trace-Id"
	// HeaderParks counts how often a job was parked (scheduled back without
	// an attempt): each park of the same job waits longer.
	HeaderParks = "Dispatch-Parks"
	// HeaderStateFrom and HeaderStateMAC sign the retry state: the delivery
	// that wrote it and the MAC over it, the job's bytes and that delivery
	// (worker/statemac.go). A state without a valid MAC is not trusted.
	HeaderStateFrom = "Dispatch-State-From"
	HeaderStateMAC  = "Dispatch-State-Mac"
	// HeaderReplayOf marks a job re-published from a dead letter; its value
	// is the dead letter's sequence.
	HeaderReplayOf = "Dispatch-Replay-Of"
	// HeaderReason, HeaderErrorClass and HeaderJobID are set on dead-letter
	// and fallback records for filtering without decoding.
	HeaderReason     = "Dispatch-Reason"
	HeaderErrorClass = "Dispatch-Error-Class"
	HeaderJobID      = "Dispatch-Job-Id"
	// HeaderTruncated says what a record lost to fit the max payload: the
	// Cut* parts, comma-separated, in the order they were cut; absent when
	// nothing was cut.
	HeaderTruncated = "Dispatch-Truncated"
)

// Parts of a record that may be cut to fit the NATS max payload, in the
// order they are cut (docs/contract.md section 3.6). A record names what
// it lost in its "truncated" field and its Dispatch-Truncated header.
const (
	// CutMeta: the job's meta was dropped (job.meta, or a result's meta).
	CutMeta = "meta"
	// CutHeaders: the job's headers were dropped.
	CutHeaders = "headers"
	// CutBody: the job's body (body or body_base64) was dropped; in a
	// result, the response body was shortened.
	CutBody = "body"
	// CutRaw: the raw bytes of an undecodable payload were shortened.
	CutRaw = "raw"
	// CutHistory: the attempt history was cut to its last attempt.
	CutHistory = "history"
	// CutJob: the rest of the job was dropped; job keeps only its id and
	// target (an invalid payload's unknown members, say).
	CutJob = "job"
	// CutError: the error text was shortened.
	CutError = "error"
)

// CutParts lists every part a record may lose, in the order they are cut.
var CutParts = []string{CutMeta, CutHeaders, CutBody, CutRaw, CutHistory, CutJob, CutError}

// Kinds of record, the "record" label of the count of records refused for
// their size.
const (
	RecordDeadLetter = "dead_letter"
	RecordFallback   = "fallback"
)

// Redacted is what a secret's value becomes everywhere but the call itself.
const Redacted = "[REDACTED]"
