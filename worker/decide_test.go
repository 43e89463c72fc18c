package worker

import (
	"errors"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// TestDecide holds every rule of the settle stage as a row: the job's retry
// state after the attempt, the attempt's result, the settings and the time
// go in; the action comes out. No clock runs and nothing sleeps.
func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	policy0 := RetryPolicy{
		MaxAttempts: 5, InitialInterval: time.Second, Multiplier: 2, MaxInterval: time.Minute,
		Randomization: 0, MaxElapsed: time.Hour, MaxRetryAfter: 5 * time.Minute,
	}.withDefaults()
	policy := policy0
	st := func(attempts int, first time.Time) retryState { return retryState{attempts: attempts, first: first} }
	status := func(code int) *callResult {
		r := &callResult{status: code}
		if code < 200 || code > 299 {
			r.class, r.errText = classifyStatus(code), "status"
		}
		return r
	}
	transport := func(class string) *callResult {
		return &callResult{err: errors.New(class), class: class, errText: class}
	}
	withRetryAfter := func(r *callResult, d time.Duration) *callResult { r.retryAfter = d; return r }
	sent := func(r *callResult) *callResult { r.sent = true; return r }
	afterSend := func(policy, method string) settlement {
		p := policy0
		p.AfterSend = policy
		return settlement{retry: p, maxAttempts: 5, method: method}
	}
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }

	cases := []struct {
		name   string
		state  retryState
		res    *callResult
		set    settlement
		kind   actionKind
		reason string
		delay  time.Duration
	}{
		{"2xx is delivered", st(1, t0), status(200), settlement{retry: policy, maxAttempts: 5}, actDeliver, "", 0},
		{"204 is delivered", st(3, t0), status(204), settlement{retry: policy, maxAttempts: 5}, actDeliver, "", 0},
		{"503 in retry_on_status is retried after the initial interval", st(1, t0), status(503), settlement{retry: policy, maxAttempts: 5}, actRetry, "", time.Second},
		{"second retry doubles", st(2, t0), status(503), settlement{retry: policy, maxAttempts: 5}, actRetry, "", 2 * time.Second},
		{"delay stops at max_interval", st(4, t0), status(500), settlement{retry: RetryPolicy{MaxAttempts: 10, InitialInterval: 20 * time.Second, Multiplier: 2, MaxInterval: 30 * time.Second}.withDefaults(), maxAttempts: 10}, actRetry, "", 30 * time.Second},
		{"404 is not retryable", st(1, t0), status(404), settlement{retry: policy, maxAttempts: 5}, actDeadLetter, schemas.ReasonNonRetryable, 0},
		{"a 3xx is not retryable", st(1, t0), status(302), settlement{retry: policy, maxAttempts: 5}, actDeadLetter, schemas.ReasonNonRetryable, 0},
		{"500 outside a custom retry_on_status is final", st(1, t0), status(500), settlement{retry: RetryPolicy{RetryOnStatus: []int{503}}.withDefaults(), maxAttempts: 5}, actDeadLetter, schemas.ReasonNonRetryable, 0},
		{"409 inside a custom retry_on_status is retried", st(1, t0), status(409), settlement{retry: RetryPolicy{RetryOnStatus: []int{409}, Randomization: 0}.withDefaults(), maxAttempts: 5}, actRetry, "", time.Second},
		{"connection refused is retried", st(1, t0), transport(schemas.ClassConnectionRefused), settlement{retry: policy, maxAttempts: 5}, actRetry, "", time.Second},
		{"a total timeout is retried", st(1, t0), transport(schemas.ClassTimeoutTotal), settlement{retry: policy, maxAttempts: 5}, actRetry, "", time.Second},
		{"a TLS error is final", st(1, t0), transport(schemas.ClassTLS), settlement{retry: policy, maxAttempts: 5}, actDeadLetter, schemas.ReasonNonRetryable, 0},
		{"an SSRF block is final", st(1, t0), transport(schemas.ClassSSRFBlocked), settlement{retry: policy, maxAttempts: 5}, actDeadLetter, schemas.ReasonNonRetryable, 0},
		{"the last attempt exhausts", st(5, t0), status(503), settlement{retry: policy, maxAttempts: 5}, actDeadLetter, schemas.ReasonExhausted, 0},
		{"a job's lower max_attempts exhausts earlier", st(2, t0), status(503), settlement{retry: policy, maxAttempts: 2}, actDeadLetter, schemas.ReasonExhausted, 0},
		{"max_elapsed: the next attempt would be too late", st(2, t0.Add(-time.Hour)), status(503), settlement{retry: policy, maxAttempts: 5}, actDeadLetter, schemas.ReasonExhausted, 0},
		{"max_elapsed: the next attempt is just in time", st(2, t0.Add(-time.Hour+3*time.Second)), status(503), settlement{retry: policy, maxAttempts: 5}, actRetry, "", 2 * time.Second},
		{"not_after before the next attempt expires", st(1, t0), status(503), settlement{retry: policy, maxAttempts: 5, notAfter: at(500 * time.Millisecond)}, actDeadLetter, schemas.ReasonExpired, 0},
		{"not_after after the next attempt retries", st(1, t0), status(503), settlement{retry: policy, maxAttempts: 5, notAfter: at(2 * time.Second)}, actRetry, "", time.Second},
		{"Retry-After wins over the backoff", st(1, t0), withRetryAfter(status(429), 7*time.Second), settlement{retry: policy, maxAttempts: 5}, actRetry, "", 7 * time.Second},
		{"Retry-After is capped by max_retry_after", st(1, t0), withRetryAfter(status(503), time.Hour), settlement{retry: policy, maxAttempts: 5}, actRetry, "", 5 * time.Minute},
		{"after_send retry: a reset after sending is retried", st(1, t0), sent(transport(schemas.ClassConnectionReset)), afterSend(schemas.AfterSendRetry, "POST"), actRetry, "", time.Second},
		{"after_send never: a reset after sending is final", st(1, t0), sent(transport(schemas.ClassConnectionReset)), afterSend(schemas.AfterSendNever, "GET"), actDeadLetter, schemas.ReasonNonRetryable, 0},
		{"after_send never: a response-header timeout is final", st(1, t0), sent(transport(schemas.ClassTimeoutResponseHeader)), afterSend(schemas.AfterSendNever, "PUT"), actDeadLetter, schemas.ReasonNonRetryable, 0},
		{"after_send never: refused before sending is retried", st(1, t0), transport(schemas.ClassConnectionRefused), afterSend(schemas.AfterSendNever, "POST"), actRetry, "", time.Second},
		{"after_send never: a connect timeout is retried", st(1, t0), transport(schemas.ClassTimeoutConnect), afterSend(schemas.AfterSendNever, "POST"), actRetry, "", time.Second},
		{"after_send never: a 503 is retried (the target answered)", st(1, t0), sent(status(503)), afterSend(schemas.AfterSendNever, "POST"), actRetry, "", time.Second},
		{"after_send idempotent_methods: a POST timed out after sending is final", st(1, t0), sent(transport(schemas.ClassTimeoutTotal)), afterSend(schemas.AfterSendIdempotent, "POST"), actDeadLetter, schemas.ReasonNonRetryable, 0},
		{"after_send idempotent_methods: a PUT timed out after sending is retried", st(1, t0), sent(transport(schemas.ClassTimeoutTotal)), afterSend(schemas.AfterSendIdempotent, "PUT"), actRetry, "", time.Second},
		{"after_send idempotent_methods: a PATCH reset after sending is final", st(1, t0), sent(transport(schemas.ClassConnectionReset)), afterSend(schemas.AfterSendIdempotent, "PATCH"), actDeadLetter, schemas.ReasonNonRetryable, 0},
		{"Retry-After on a final status changes nothing", st(1, t0), withRetryAfter(status(400), time.Second), settlement{retry: policy, maxAttempts: 5}, actDeadLetter, schemas.ReasonNonRetryable, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := decide(c.state, c.res, c.set, t0)
			if a.kind != c.kind || a.reason != c.reason {
				t.Fatalf("decide = kind %d reason %q, want kind %d reason %q", a.kind, a.reason, c.kind, c.reason)
			}
			if a.kind == actRetry && (a.delay != c.delay || !a.at.Equal(t0.Add(c.delay))) {
				t.Errorf("retry after %s at %s, want %s", a.delay, a.at, c.delay)
			}
			if a.class != c.res.class || a.status != c.res.status {
				t.Errorf("action carries class %q status %d, want the result's %q %d", a.class, a.status, c.res.class, c.res.status)
			}
		})
	}
}
