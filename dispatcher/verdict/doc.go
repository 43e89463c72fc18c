// Package verdict judges a target's health the way Burrow judges a Kafka
// consumer: on a sliding window of samples (the backlog, and the worker's
// outcomes, deliveries, retries, parks and calls), not on hand-set
// thresholds. Judge is a pure function — samples and the facts of now in, a
// Verdict (a State with its cause, until, trend, rate and drain ETA) out —
// so it is tested under a fake clock. The service samples and publishes
// (dispatcher/health_verdicts.go); lag merges the instances' verdicts,
// worst first by the States' precedence.
package verdict
