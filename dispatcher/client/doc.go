// Package client publishes jobs to the dispatcher service from Go programs.
//
// A job goes to the subject <prefix>.jobs.<target> of the jobs stream with
// Nats-Msg-Id set to the job id, so JetStream stores a job published twice
// inside its duplicate window once (docs/contract.md sections 1 and 2). Every job
// is checked against the job schema before it is sent, so a job the service
// would dead-letter as invalid is refused here, with the reason.
//
// Publish sends one job and waits for JetStream's ack; PublishNDJSON sends
// many, one JSON job per line, asynchronously with a bounded window of
// un-acked publishes, and reports each bad line by its number. The
// `dispatcher publish` command is a thin layer over this package.
package client
