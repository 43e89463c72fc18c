package config

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

func TestParseDefaultsWhenKeysAbsent(t *testing.T) {
	cfg := mustParse(t, validTarget, nil)
	want := &Config{
		ServiceName: "dispatcher",
		NATS: NATS{
			Embedded:      EmbeddedNATS{Listen: "127.0.0.1:4222", StoreDir: "./data/nats"},
			Replicas:      1,
			SubjectPrefix: "dispatch",
		},
		Streams:         Streams{DeadLetterMaxAge: 720 * time.Hour, FallbackMaxAge: 168 * time.Hour, AuditMaxAge: 2160 * time.Hour, Partitions: 8},
		HTTP:            HTTP{Listen: "127.0.0.1:9090"},
		ShutdownTimeout: 30 * time.Second,
		OrphanGrace:     60 * time.Second,
		Security:        worker.Security{MaxJobBytes: 1048576, MaxResponseBytes: 65536},
		Fleet:           Fleet{ShareBreakers: true, Heartbeat: 2 * time.Second},
		Health:          Health{Window: 2 * time.Minute},
		Targets: map[string]worker.Target{"a": {
			Name:        "a",
			Endpoints:   []string{"https://a.example.com"},
			Concurrency: 32,
			LimitScope:  "instance",
			Timeouts:    worker.Timeouts{Connect: 3 * time.Second, TLS: 3 * time.Second, ResponseHeader: 10 * time.Second, Total: 30 * time.Second},
			Retry: worker.RetryPolicy{
				MaxAttempts: 5, InitialInterval: time.Second, Multiplier: 2, MaxInterval: 60 * time.Second,
				Randomization: 0.2, MaxElapsed: time.Hour, RetryOnStatus: []int{408, 425, 429, 500, 502, 503, 504},
				MaxRetryAfter: 5 * time.Minute, BudgetRatio: worker.DefaultRetryBudgetRatio, AfterSend: schemas.AfterSendRetry,
			},
			Breaker: worker.BreakerPolicy{
				ConsecutiveFailures: 5, FailureRatio: 0.5, MinRequests: 20, Window: 60 * time.Second,
				OpenTimeout: 30 * time.Second, HalfOpenRequests: 1, WhenOpen: "fallback",
			},
		}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestParseNullSectionsKeepDefaults(t *testing.T) {
	cfg := mustParse(t, withTop("service_name:\nnats:\nstreams: ~\ndefaults:\n  retry:\n"), nil)
	if cfg.ServiceName != "dispatcher" || cfg.NATS.SubjectPrefix != "dispatch" || cfg.Targets["a"].Retry.MaxAttempts != 5 {
		t.Errorf("null keys did not keep the defaults: %+v", cfg)
	}
}

func TestTargetNamesSorted(t *testing.T) {
	cfg := mustParse(t, `
targets:
  zeta: {endpoints: ["https://z.example.com"]}
  alpha: {endpoints: ["https://a.example.com"]}
  Mid-1: {endpoints: ["https://m.example.com"]}
`, nil)
	got := cfg.TargetNames()
	if want := []string{"Mid-1", "alpha", "zeta"}; !slices.Equal(got, want) {
		t.Errorf("TargetNames() = %v, want %v", got, want)
	}
}

func TestParseFleetKeys(t *testing.T) {
	cfg := mustParse(t, withTop("fleet: {share_breakers: false, heartbeat: 500ms}\ndefaults: {limit_scope: fleet}"), nil)
	if cfg.Fleet.ShareBreakers || cfg.Fleet.Heartbeat != 500*time.Millisecond {
		t.Errorf("fleet = %+v, want share_breakers false, heartbeat 500ms", cfg.Fleet)
	}
	if s := cfg.Targets["a"].LimitScope; s != worker.LimitScopeFleet {
		t.Errorf("target a limit_scope %q, want fleet (from defaults)", s)
	}
}
