// Package deadletter owns the records of jobs that were not delivered: it
// writes dead-letter records to <p>.dlq.<target> and fallback records to
// <p>.fallback.<target> on JetStream, each with a Nats-Msg-Id so that a
// record published twice (a crash between the publish and the job's ack) is
// stored once.
package deadletter
