package config

import (
	"slices"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/worker"
)

// TestMergeFieldByField checks the layering built-in <- defaults <- target
// one key at a time.
func TestMergeFieldByField(t *testing.T) {
	const file = `
defaults:
  concurrency: 8
  timeouts: {total: 20s}
  retry:
    max_attempts: 7
    initial_interval: 2s
    retry_on_status: [503]
  breaker: {when_open: hold}
targets:
  a:
    endpoints: ["https://a.example.com"]
    retry: {max_attempts: 3}
  b:
    endpoints: ["https://b.example.com"]
    concurrency: 2
    timeouts: {connect: 1s}
    retry: {retry_on_status: [429, 500]}
    breaker: {window: 10s}
`
	cfg := mustParse(t, file, nil)
	a, b := cfg.Targets["a"], cfg.Targets["b"]
	tests := []struct {
		name      string
		got, want any
	}{
		{"target key overrides defaults", a.Retry.MaxAttempts, 3},
		{"sibling key comes from defaults", a.Retry.InitialInterval, 2 * time.Second},
		{"key absent everywhere is built in", a.Retry.MaxInterval, 60 * time.Second},
		{"randomization built in", a.Retry.Randomization, 0.2},
		{"defaults concurrency", a.Concurrency, 8},
		{"defaults timeout", a.Timeouts.Total, 20 * time.Second},
		{"built-in timeout beside defaults", a.Timeouts.Connect, 3 * time.Second},
		{"defaults list", a.Retry.RetryOnStatus, []int{503}},
		{"defaults breaker", a.Breaker.WhenOpen, worker.WhenOpenHold},
		{"built-in breaker beside defaults", a.Breaker.Window, 60 * time.Second},
		{"other target keeps defaults", b.Retry.MaxAttempts, 7},
		{"target concurrency", b.Concurrency, 2},
		{"target timeout", b.Timeouts.Connect, time.Second},
		{"target timeout sibling from defaults", b.Timeouts.Total, 20 * time.Second},
		{"target list replaces defaults list", b.Retry.RetryOnStatus, []int{429, 500}},
		{"target breaker key", b.Breaker.Window, 10 * time.Second},
		{"target breaker sibling from defaults", b.Breaker.WhenOpen, worker.WhenOpenHold},
		{"name set", b.Name, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !equal(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func equal(a, b any) bool {
	if x, ok := a.([]int); ok {
		y, ok := b.([]int)
		return ok && slices.Equal(x, y)
	}
	return a == b
}

func TestMergeExplicitZeroKept(t *testing.T) {
	tests := []struct {
		name string
		file string
		want float64
	}{
		{"absent takes built-in", validTarget, 0.2},
		{"zero in target", withTarget("retry: {randomization: 0}"), 0},
		{"zero in defaults", withTop("defaults: {retry: {randomization: 0}}"), 0},
		{"target overrides zero in defaults", "defaults: {retry: {randomization: 0}}\n" + withTarget("retry: {randomization: 0.5}"), 0.5},
		{"zero float syntax", withTarget("retry: {randomization: 0.0}"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.file, nil)
			if got := cfg.Targets["a"].Retry.Randomization; got != tt.want {
				t.Errorf("Randomization = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMergeDefaultsAfterTargets(t *testing.T) {
	cfg := mustParse(t, validTarget+"defaults: {concurrency: 4}\n", nil)
	if got := cfg.Targets["a"].Concurrency; got != 4 {
		t.Errorf("Concurrency = %d, want 4 from a defaults section written after the targets", got)
	}
}

func TestMergeTargetsShareNothing(t *testing.T) {
	cfg := mustParse(t, `
targets:
  a: {endpoints: ["https://a.example.com"]}
  b: {endpoints: ["https://b.example.com"]}
`, nil)
	a := cfg.Targets["a"]
	a.Retry.RetryOnStatus[0] = 999
	if got := cfg.Targets["b"].Retry.RetryOnStatus[0]; got != 408 {
		t.Errorf("changing a's statuses changed b's to %d", got)
	}
	if got := worker.DefaultRetryOnStatus[0]; got != 408 {
		t.Errorf("changing a's statuses changed worker.DefaultRetryOnStatus to %d", got)
	}
}
