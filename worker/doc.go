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
//
// # The pipeline
//
// Each delivery runs through three stages (handle.go):
//
//   - admit (admit.go): first an outcome an earlier delivery of the same
//     message already decided (its settle marker, settle.go: redone),
//     then decode and validate, the subject's target, the trace, then in
//     this order: a pause of the target (pause.go: the job is parked
//     until it ends, nothing after it checked or counted), not_after, the
//     delivery count, the retry budget, the rate limit.
//   - attempt (attempt.go): pick the endpoint whose breaker lets a call
//     through (failover), make the call (call.go), classify the result
//     (classify.go), record it in the job's retry state (state.go).
//   - settle: decide (decide.go), a pure function of (retry state, result,
//     settings, now), says deliver, retry at a time, or dead-letter with a
//     reason; its effects — ack, scheduled copy, record, result — are in
//     outcome.go.
//
// # Adding a resilience behaviour
//
//  1. Pick its stage. Something that decides whether a job may be tried now
//     (a limit, a pause, a quota) belongs in admit, after the checks it must
//     not pre-empt; something that changes how one call is made (hedging, a
//     second endpoint) belongs in attempt; something that changes what a
//     result means (a new retry rule) is a row of decide.
//  2. Its settings go in a policy struct of settings.go whose zero value
//     means its documented default; the default itself goes in
//     DefaultTarget, the one source the config file starts from. Add the
//     key to dispatcher/config (keys.go, validate.go) and to
//     docs/contract.md.
//  3. A value other packages spell (a class, a reason, a state, a header, a
//     subject) goes in schemas (vocab.go, topology.go), never a literal.
//  4. What it does is an event on Observer (observer.go) if operators should
//     count it; dispatcher/metrics implements it.
//  5. Tests: a row in the table of TestDecide for a settle rule; a table
//     test under WithClock for anything timed; an integration test in
//     tests/ with a real nats-server and a real HTTP server for its effect.
//  6. It must not hold a delivery past its AckWait without InProgress, and
//     must not ack before what carries the job on is stored.
package worker
