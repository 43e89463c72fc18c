package config

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jetdispatch/dispatcher/worker"
)

// Config is a resolved config file: every field holds its final value, the
// defaults already applied. Each field's `key` tag is its key in the file
// (reload uses them to name what changed).
type Config struct {
	// ServiceName names this service in records and logs (default
	// "dispatcher").
	ServiceName string `key:"service_name"`
	// NATS says how to reach NATS and which subjects to use.
	NATS NATS `key:"nats"`
	// Streams holds the limits of the dead-letter and fallback streams.
	Streams Streams `key:"streams"`
	// HTTP configures the health endpoints' server.
	HTTP HTTP `key:"http"`
	// ShutdownTimeout bounds a graceful shutdown (default 30s).
	ShutdownTimeout time.Duration `key:"shutdown_timeout"`
	// OrphanGrace is how long a job for an unconfigured target waits before
	// it is dead-lettered with reason unknown_target (default 60s).
	OrphanGrace time.Duration `key:"orphan_grace"`
	// Security holds the service-wide guards.
	Security worker.Security `key:"security"`
	// Fleet configures what the instances sharing a NATS account share.
	Fleet Fleet `key:"fleet"`
	// Health tunes how each target's health is judged.
	Health Health `key:"health"`
	// Targets are the configured targets by name, each with the defaults
	// merged in and its Name set. There is at least one.
	Targets map[string]worker.Target `key:"targets"`
}

// Fleet is the fleet section: what instances of the same subject prefix
// share through NATS KV buckets.
type Fleet struct {
	// ShareBreakers makes an endpoint's breaker opening on one instance
	// open it on every instance (default true).
	ShareBreakers bool `key:"share_breakers"`
	// Heartbeat is how often an instance announces itself; an instance
	// silent for 3 heartbeats no longer counts (default 2s).
	Heartbeat time.Duration `key:"heartbeat"`
}

// Health is the health section: how each target's verdict (OK, GROWING,
// STALLED, ...) is judged (docs/contract.md 1.8).
type Health struct {
	// Window is how far back a target's samples are judged (default 2m,
	// verdict.DefaultWindow): STALLED after a window without an outcome.
	Window time.Duration `key:"window"`
}

// NATS is the nats section of the config.
type NATS struct {
	// URL is the server to connect to; empty means an embedded JetStream
	// server is started. It may list several servers, separated by commas.
	URL string `key:"url"`
	// Creds is the path of a .creds file; empty for none.
	Creds string `key:"creds"`
	// User and Password authenticate with a user name and password (both
	// or neither). Password is a secret: never logged.
	User     string `key:"user"`
	Password string `key:"password"`
	// Token authenticates with a token (a secret: never logged).
	Token string `key:"token"`
	// NKey is the path of an NKey user seed file; empty for none.
	NKey string `key:"nkey"`
	// TLS configures TLS towards NATS: a custom CA and a client
	// certificate.
	TLS NATSTLS `key:"tls"`
	// Embedded configures the embedded server used when URL is empty.
	Embedded EmbeddedNATS `key:"embedded"`
	// Replicas is the replica count of the streams (default 1).
	Replicas int `key:"replicas"`
	// SubjectPrefix is the first token(s) of every subject (default
	// "dispatch").
	SubjectPrefix string `key:"subject_prefix"`
}

// NATSTLS holds the TLS files of the NATS connection, all PEM; empty fields
// are not used.
type NATSTLS struct {
	// CA is the file of the CA certificates the server is verified with.
	CA string `key:"ca"`
	// Cert and Key are the client certificate and its key (both or
	// neither).
	Cert string `key:"cert"`
	Key  string `key:"key"`
}

// String keeps the password and token out of logs and error messages.
func (n NATS) String() string {
	c := n
	if c.Password != "" {
		c.Password = "[REDACTED]"
	}
	if c.Token != "" {
		c.Token = "[REDACTED]"
	}
	if c.Embedded.Token != "" {
		c.Embedded.Token = "[REDACTED]"
	}
	type plain NATS
	return fmt.Sprintf("%+v", plain(c))
}

// GoString keeps the password and token out of %#v.
func (n NATS) GoString() string { return n.String() }

// EmbeddedNATS configures the embedded NATS server.
type EmbeddedNATS struct {
	// Listen is the client address, host:port (default "127.0.0.1:4222").
	Listen string `key:"listen"`
	// StoreDir is the JetStream storage directory (default "./data/nats").
	StoreDir string `key:"store_dir"`
	// Token is the token every client of the embedded server must present
	// (the service's own connection included); empty for none, which is
	// allowed only when Listen is a loopback address. A secret: never
	// logged.
	Token string `key:"token"`
}

// String keeps the token out of logs and error messages.
func (e EmbeddedNATS) String() string {
	c := e
	if c.Token != "" {
		c.Token = "[REDACTED]"
	}
	type plain EmbeddedNATS
	return fmt.Sprintf("%+v", plain(c))
}

// GoString keeps the token out of %#v.
func (e EmbeddedNATS) GoString() string { return e.String() }

// Streams holds the limits of the streams the service creates.
type Streams struct {
	// DeadLetterMaxAge is the max age of dead letters (default 720h).
	DeadLetterMaxAge time.Duration `key:"dead_letter_max_age"`
	// FallbackMaxAge is the max age of fallback records (default 168h).
	FallbackMaxAge time.Duration `key:"fallback_max_age"`
	// AuditMaxAge is the max age of audit records (default 2160h).
	AuditMaxAge time.Duration `key:"audit_max_age"`
	// Partitions is how many partitions the jobs are consumed through
	// (default 8, 1 to 1024): the same on every instance of a fleet; a
	// change takes a restart (docs/config.md says what happens then).
	Partitions int `key:"partitions"`
}

// HTTP configures the service's HTTP listener: the health endpoints,
// /metrics and POST /-/reload.
type HTTP struct {
	// Listen is the address, host:port (default "127.0.0.1:9090"); port 0
	// picks a free port.
	Listen string `key:"listen"`
	// Token is the bearer token every request but /healthz and /readyz
	// must present; empty for none, which is allowed only when Listen is a
	// loopback address. A reload applies it. A secret: never logged.
	Token string `key:"token"`
}

// String keeps the token out of logs and error messages.
func (h HTTP) String() string {
	c := h
	if c.Token != "" {
		c.Token = "[REDACTED]"
	}
	type plain HTTP
	return fmt.Sprintf("%+v", plain(c))
}

// GoString keeps the token out of %#v.
func (h HTTP) GoString() string { return h.String() }

// TargetNames returns the names of the configured targets, sorted.
func (c *Config) TargetNames() []string {
	return slices.Sorted(maps.Keys(c.Targets))
}
