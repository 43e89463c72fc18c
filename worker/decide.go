package worker

import (
	"slices"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// actionKind is what settling an attempt does with the job.
type actionKind int

const (
	// actDeliver: the call succeeded; the result goes to reply_to.
	actDeliver actionKind = iota
	// actRetry: the job is scheduled for another attempt at action.at.
	actRetry
	// actDeadLetter: the job ends as a dead letter with action.reason.
	actDeadLetter
)

// action is the decision of the settle stage.
type action struct {
	kind    actionKind
	reason  string // actDeadLetter: the dead-letter reason
	class   string // the error class of the last attempt ("" on success)
	errText string // what the record and the result say
	status  int    // the last HTTP status (0: none)
	at      time.Time
	delay   time.Duration // actRetry: at - now
}

// settlement is what decide needs of the target's settings and the job.
type settlement struct {
	retry       RetryPolicy
	maxAttempts int        // the target's, lowered by the job's own
	notAfter    *time.Time // the job's not_after, nil for none
	method      string     // the job's HTTP method (retry.after_send)
}

// retrySent reports whether a failure that came after the request may have
// reached the target is retried, for the job's method under policy.
func retrySent(policy, method string) bool {
	switch policy {
	case schemas.AfterSendNever:
		return false
	case schemas.AfterSendIdempotent:
		return slices.Contains(idempotentMethods, method)
	default:
		return true
	}
}

// idempotentMethods are the methods retry.after_send: idempotent_methods
// retries (RFC 9110 section 9.2.2, less TRACE, which jobs cannot use).
var idempotentMethods = []string{"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}

// decide is the settle stage's rule, a pure function of the job's retry
// state (the attempt just made already recorded in it), the attempt's
// result, the settings and the time: deliver a success; dead-letter a
// failure that is not retryable (its class, or a status outside
// retry_on_status, or a failure after the request may have reached the
// target that retry.after_send does not retry), one that used its last attempt, and one whose next
// attempt would come after max_elapsed or not_after; otherwise retry after
// the backoff delay (or the target's Retry-After, capped).
func decide(st retryState, res *callResult, s settlement, now time.Time) action {
	a := action{class: res.class, errText: res.errText, status: res.status}
	if res.ok() {
		a.kind = actDeliver
		return a
	}
	a.kind = actDeadLetter
	retryable := retryableClass(res.class)
	if res.err == nil {
		retryable = slices.Contains(s.retry.RetryOnStatus, res.status)
	}
	if !retryable {
		a.reason = schemas.ReasonNonRetryable
		return a
	}
	if res.err != nil && res.sent && !retrySent(s.retry.AfterSend, s.method) {
		a.reason = schemas.ReasonNonRetryable
		a.errText = res.errText + " (the request may have reached the target; retry.after_send: " + s.retry.AfterSend + ")"
		return a
	}
	if st.attempts >= s.maxAttempts {
		a.reason = schemas.ReasonExhausted
		return a
	}
	delay := retryDelay(s.retry, st.attempts, res.retryAfter)
	next := now.Add(delay)
	if !st.first.IsZero() && next.Sub(st.first) > s.retry.MaxElapsed {
		a.reason, a.errText = schemas.ReasonExhausted, res.errText+" (retry.max_elapsed reached)"
		return a
	}
	if s.notAfter != nil && next.After(*s.notAfter) {
		a.reason, a.errText = schemas.ReasonExpired, res.errText+" (next attempt would be after not_after)"
		return a
	}
	a.kind, a.at, a.delay = actRetry, next, delay
	return a
}
