// Package worker owns one target's life: it consumes the target's jobs from
// JetStream, makes each HTTP call with split timeouts through a per-target
// transport guarded against SSRF, classifies the outcome, and decides what
// happens next: done (result to reply_to), a durable scheduled retry, a dead
// letter, or a fallback record while the endpoint's circuit breaker is open.
//
// A retry holds no goroutine and no consumer slot: the job is re-published to
// the jobs stream as a JetStream scheduled message (Nats-Schedule: @at ...)
// carrying its attempt count and history in headers, and the delivered copy is
// acked only after JetStream stored the schedule.
package worker
