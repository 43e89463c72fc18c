package config

import (
	"testing"

	"github.com/jetdispatch/dispatcher/worker"
)

func TestHealKeysDefaults(t *testing.T) {
	cfg := mustParse(t, validTarget, nil)
	a := cfg.Targets["a"]
	if a.Retry.BudgetRatio != worker.DefaultRetryBudgetRatio {
		t.Errorf("retry.budget_ratio default %v, want %v", a.Retry.BudgetRatio, worker.DefaultRetryBudgetRatio)
	}
	if a.RateLimit != nil {
		t.Errorf("rate_limit default %+v, want nil (unlimited)", a.RateLimit)
	}
}

func TestHealKeysSet(t *testing.T) {
	cfg := mustParse(t, "defaults:\n  rate_limit: {per_second: 50}\n  retry: {budget_ratio: 0.5}\n"+
		"targets:\n  a:\n    endpoints: [\"https://a.example.com\"]\n    rate_limit: {burst: 5}\n    retry: {budget_ratio: 0}\n"+
		"  b:\n    endpoints: [\"https://b.example.com\"]\n", nil)
	a, b := cfg.Targets["a"], cfg.Targets["b"]
	if a.RateLimit == nil || a.RateLimit.PerSecond != 50 || a.RateLimit.Burst != 5 {
		t.Errorf("a.rate_limit %+v, want {50 5}", a.RateLimit)
	}
	if b.RateLimit == nil || b.RateLimit.PerSecond != 50 || b.RateLimit.Burst != 0 {
		t.Errorf("b.rate_limit %+v, want {50 0}", b.RateLimit)
	}
	if a.RateLimit == b.RateLimit {
		t.Error("targets share the inherited rate_limit")
	}
	if !a.Retry.NoBudget {
		t.Errorf("a.retry.budget_ratio 0 resolved to %+v, want NoBudget", a.Retry)
	}
	if b.Retry.BudgetRatio != 0.5 {
		t.Errorf("b.retry.budget_ratio %v, want 0.5", b.Retry.BudgetRatio)
	}
}

func TestHealKeysInvalid(t *testing.T) {
	for _, tc := range []struct{ name, extra, want string }{
		{"ratio above 1", "retry: {budget_ratio: 1.5}", "targets.a.retry.budget_ratio: must be between 0 (no budget) and 1"},
		{"ratio negative", "retry: {budget_ratio: -0.1}", "targets.a.retry.budget_ratio: must be between 0 (no budget) and 1"},
		{"rate zero", "rate_limit: {per_second: 0}", "targets.a.rate_limit.per_second: must be greater than 0"},
		{"rate missing", "rate_limit: {burst: 3}", "targets.a.rate_limit.per_second: must be greater than 0"},
		{"burst negative", "rate_limit: {per_second: 10, burst: -1}", "targets.a.rate_limit.burst: must not be negative"},
		{"unknown key", "rate_limit: {per_minute: 10}", "targets.a.rate_limit.per_minute: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, withTarget(tc.extra), nil)
			for _, g := range got {
				if len(g) >= len(tc.want) && g[:len(tc.want)] == tc.want {
					return
				}
			}
			t.Errorf("problems %q do not include %q", got, tc.want)
		})
	}
}
