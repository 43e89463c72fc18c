// Package dispatcher is the service: it loads the config (package
// dispatcher/config), starts an embedded JetStream server when no NATS URL is
// configured, creates or updates the streams and one durable consumer per
// target, runs one worker per target, dead-letters jobs for unknown targets,
// and serves /healthz and /readyz.
package dispatcher
