package config

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jetdispatch/dispatcher/worker"
)

// Config is a resolved config file: every field holds its final value, the
// defaults already applied.
type Config struct {
	// ServiceName names this service in records and logs (default
	// "dispatcher").
	ServiceName string
	// NATS says how to reach NATS and which subjects to use.
	NATS NATS
	// Streams holds the limits of the dead-letter and fallback streams.
	Streams Streams
	// HTTP configures the health endpoints' server.
	HTTP HTTP
	// ShutdownTimeout bounds a graceful shutdown (default 30s).
	ShutdownTimeout time.Duration
	// OrphanGrace is how long a job for an unconfigured target waits before
	// it is dead-lettered with reason unknown_target (default 60s).
	OrphanGrace time.Duration
	// Security holds the service-wide guards.
	Security worker.Security
	// Fleet configures what the instances sharing a NATS account share.
	Fleet Fleet
	// Targets are the configured targets by name, each with the defaults
	// merged in and its Name set. There is at least one.
	Targets map[string]worker.Target
}

// Fleet is the fleet section: what instances of the same subject prefix
// share through NATS KV buckets.
type Fleet struct {
	// ShareBreakers makes an endpoint's breaker opening on one instance
	// open it on every instance (default true).
	ShareBreakers bool
	// Heartbeat is how often an instance announces itself; an instance
	// silent for 3 heartbeats no longer counts (default 2s).
	Heartbeat time.Duration
}

// NATS is the nats section of the config.
type NATS struct {
	// URL is the server to connect to; empty means an embedded JetStream
	// server is started. It may list several servers, separated by commas.
	URL string
	// Creds is the path of a .creds file; empty for none.
	Creds string
	// User and Password authenticate with a user name and password (both
	// or neither). Password is a secret: never logged.
	User, Password string
	// Token authenticates with a token (a secret: never logged).
	Token string
	// NKey is the path of an NKey user seed file; empty for none.
	NKey string
	// TLS configures TLS towards NATS: a custom CA and a client
	// certificate.
	TLS NATSTLS
	// Embedded configures the embedded server used when URL is empty.
	Embedded EmbeddedNATS
	// Replicas is the replica count of the streams (default 1).
	Replicas int
	// SubjectPrefix is the first token(s) of every subject (default
	// "dispatch").
	SubjectPrefix string
}

// NATSTLS holds the TLS files of the NATS connection, all PEM; empty fields
// are not used.
type NATSTLS struct {
	// CA is the file of the CA certificates the server is verified with.
	CA string
	// Cert and Key are the client certificate and its key (both or
	// neither).
	Cert, Key string
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
	type plain NATS
	return fmt.Sprintf("%+v", plain(c))
}

// GoString keeps the password and token out of %#v.
func (n NATS) GoString() string { return n.String() }

// EmbeddedNATS configures the embedded NATS server.
type EmbeddedNATS struct {
	// Listen is the client address, host:port (default "127.0.0.1:4222").
	Listen string
	// StoreDir is the JetStream storage directory (default "./data/nats").
	StoreDir string
}

// Streams holds the limits of the streams the service creates.
type Streams struct {
	// DeadLetterMaxAge is the max age of dead letters (default 720h).
	DeadLetterMaxAge time.Duration
	// FallbackMaxAge is the max age of fallback records (default 168h).
	FallbackMaxAge time.Duration
}

// HTTP configures the HTTP server of the health endpoints.
type HTTP struct {
	// Listen is the address, host:port (default "127.0.0.1:9090"); port 0
	// picks a free port.
	Listen string
}

// TargetNames returns the names of the configured targets, sorted.
func (c *Config) TargetNames() []string {
	return slices.Sorted(maps.Keys(c.Targets))
}
