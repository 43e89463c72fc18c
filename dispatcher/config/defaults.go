package config

import (
	"slices"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
	"github.com/jetdispatch/dispatcher/worker"
)

// MaxPartitions is the largest streams.partitions.
const MaxPartitions = 1024

// Documented defaults of the service-wide keys.
const (
	DefaultServiceName      = "dispatcher"
	DefaultEmbeddedListen   = "127.0.0.1:4222"
	DefaultStoreDir         = "./data/nats"
	DefaultReplicas         = 1
	DefaultSubjectPrefix    = "dispatch"
	DefaultDeadLetterMaxAge = 720 * time.Hour
	DefaultFallbackMaxAge   = 168 * time.Hour
	DefaultAuditMaxAge      = audit.DefaultMaxAge
	DefaultPartitions       = 8
	DefaultHTTPListen       = "127.0.0.1:9090"
	DefaultShutdownTimeout  = 30 * time.Second
	DefaultOrphanGrace      = 60 * time.Second
	DefaultFleetHeartbeat   = 2 * time.Second
	DefaultHealthWindow     = verdict.DefaultWindow
	// MinHealthWindow is the shortest health.window: a few backlog polls.
	MinHealthWindow = time.Second
)

// defaultConfig returns the config of an empty file, without targets.
func defaultConfig() Config {
	return Config{
		ServiceName: DefaultServiceName,
		NATS: NATS{
			Embedded:      EmbeddedNATS{Listen: DefaultEmbeddedListen, StoreDir: DefaultStoreDir},
			Replicas:      DefaultReplicas,
			SubjectPrefix: DefaultSubjectPrefix,
		},
		Streams: Streams{
			DeadLetterMaxAge: DefaultDeadLetterMaxAge,
			FallbackMaxAge:   DefaultFallbackMaxAge,
			AuditMaxAge:      DefaultAuditMaxAge,
			Partitions:       DefaultPartitions,
		},
		HTTP:            HTTP{Listen: DefaultHTTPListen},
		ShutdownTimeout: DefaultShutdownTimeout,
		OrphanGrace:     DefaultOrphanGrace,
		Fleet:           Fleet{ShareBreakers: true, Heartbeat: DefaultFleetHeartbeat},
		Health:          Health{Window: DefaultHealthWindow},
		Security: worker.Security{
			MaxJobBytes:      worker.DefaultMaxJobBytes,
			MaxResponseBytes: worker.DefaultMaxResponseBytes,
		},
		Targets: map[string]worker.Target{},
	}
}

// builtinTarget returns the built-in per-target settings, the bottom layer
// under the file's defaults section: the worker's documented defaults.
func builtinTarget() worker.Target { return worker.DefaultTarget() }

// inherit returns the target named name with the settings of defaults,
// sharing no memory with it, ready for the target's own keys.
func inherit(defaults worker.Target, name string) worker.Target {
	t := defaults
	t.Name = name
	t.Retry.RetryOnStatus = slices.Clone(defaults.Retry.RetryOnStatus)
	t.AllowNetworks = slices.Clone(defaults.AllowNetworks)
	if defaults.RateLimit != nil {
		rl := *defaults.RateLimit
		t.RateLimit = &rl
	}
	return t
}

// resolve turns the file's spellings into the worker's: retry.budget_ratio
// 0 means no budget (worker.RetryPolicy.NoBudget).
func resolve(cfg *Config) {
	for name, t := range cfg.Targets {
		if t.Retry.BudgetRatio == 0 {
			t.Retry.NoBudget = true
			cfg.Targets[name] = t
		}
	}
}
