// Package deadletter owns the records of jobs that were not delivered.
//
// Writer publishes dead-letter records to <p>.dlq.<target> and fallback
// records to <p>.fallback.<target> on JetStream, each with a Nats-Msg-Id so
// that a record published twice (a crash between the publish and the job's
// ack) is stored once, and each cut to fit the server's max payload (or a
// stream's smaller max_msg_size) by the schemas package's Fit functions;
// ErrTooLarge says when even the smallest record does not fit.
//
// Store serves the operator: List and Get read dead letters without
// consuming or changing the stream (an ordered consumer and direct gets),
// Replay publishes their jobs back to <p>.jobs.<target> and deletes each
// record only after JetStream acknowledged the re-publish, and Purge deletes
// them. A Filter selects the records each of them works on.
package deadletter
