package config

import "testing"

func TestParseUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"top level", withTop("servce_name: x"), `servce_name: unknown key (did you mean "service_name"?)`},
		{"top level far from any key", withTop("colour: red"), "colour: unknown key"},
		{"nats.embedded", withTop("nats: {embedded: {x: 1}}"), "nats.embedded.x: unknown key"},
		{"defaults.retry", withTop("defaults: {retry: {x: 1}}"), "defaults.retry.x: unknown key"},
		{"defaults target-only key", withTop("defaults: {endpoints: []}"), "defaults.endpoints: unknown key"},
		{"targets.a", withTarget("retrys: {max_attempts: 2}"), `targets.a.retrys: unknown key (did you mean "retry"?)`},
		{"targets.a.breaker", withTarget("breaker: {x: 1}"), "targets.a.breaker.x: unknown key"},
		{"targets.a.fallback", withTarget("fallback: {status: 503, x: 1}"), "targets.a.fallback.x: unknown key"},
		{"targets.a.timeouts", withTarget("timeouts: {Total: 1s}"), `targets.a.timeouts.Total: unknown key (did you mean "total"?)`},
		{"quoted key", withTop(`"a b": 1`), `"a b": unknown key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, tt.file, nil, tt.want)
		})
	}
}

func TestParseTypeErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"integer", withTop("defaults: {retry: {max_attempts: five}}"), `defaults.retry.max_attempts: must be an integer, got "five"`},
		{"integer from float", withTarget("concurrency: 1.5"), `targets.a.concurrency: must be an integer, got "1.5"`},
		{"quoted integer", withTarget(`concurrency: "3"`), `targets.a.concurrency: must be an integer, got "3"`},
		{"number", withTarget("retry: {multiplier: fast}"), `targets.a.retry.multiplier: must be a number, got "fast"`},
		{"finite number", withTarget("retry: {multiplier: .inf}"), `targets.a.retry.multiplier: must be a finite number, got ".inf"`},
		{"bool", withTop("security: {allow_private_networks: maybe}"), `security.allow_private_networks: must be true or false, got "maybe"`},
		{"bool from yes", withTop("security: {allow_private_networks: yes}"), `security.allow_private_networks: must be true or false, got "yes"`},
		{"duration with space", withTop("defaults: {timeouts: {total: 3 sec}}"), `defaults.timeouts.total: invalid duration "3 sec"`},
		{"duration without unit", withTop("shutdown_timeout: 30"), `shutdown_timeout: invalid duration "30"`},
		{"string given a mapping", withTop("service_name: {a: 1}"), "service_name: must be a string, got a mapping"},
		{"section given a scalar", withTop("nats: yes"), `nats: must be a mapping, got "yes"`},
		{"section given a list", withTarget("retry: [1]"), "targets.a.retry: must be a mapping, got a list"},
		{"list given a scalar", "targets:\n  a:\n    endpoints: https://a.example.com\n", `targets.a.endpoints: must be a list, got "https://a.example.com"`},
		{"list item", withTarget("retry: {retry_on_status: [500, x]}"), `targets.a.retry.retry_on_status[1]: must be an integer, got "x"`},
		{"null list item", withTop("security: {redact_headers: [~]}"), "security.redact_headers[0]: must be a string, got null"},
		{"header value", withTarget("headers: {X-A: [1]}"), "targets.a.headers.X-A: must be a string, got a list"},
		{"null header value", withTarget("headers: {X-A: }"), "targets.a.headers.X-A: must be a string, got null"},
		{"target given a scalar", "targets:\n  a: x\n", `targets.a: must be a mapping, got "x"`},
		{"targets given a list", "targets: [a]\n", "targets: must be a mapping, got a list"},
		{"non-string key", withTarget("headers: {[a]: b}"), `targets.a.headers: keys must be strings, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, tt.file, nil, tt.want)
		})
	}
}

func TestParseDuplicateKeys(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"top level", withTop("orphan_grace: 1s\norphan_grace: 2s"), "orphan_grace: duplicate key (first defined on line 1)"},
		{"nested", withTarget("retry:\n  max_attempts: 2\n  max_attempts: 3"), "targets.a.retry.max_attempts: duplicate key (first defined on line 5)"},
		{"target", validTarget + "  a:\n    endpoints: [\"https://b.example.com\"]\n", "targets.a: duplicate key (first defined on line 2)"},
		{"header", withTarget("headers: {X-A: 1, X-A: 2}"), "targets.a.headers.X-A: duplicate key (first defined on line 4)"},
		{"fallback body", withTarget("fallback: {status: 503, body: {k: 1, k: 2}}"), "targets.a.fallback.body.k: duplicate key (first defined on line 4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, tt.file, nil, tt.want)
		})
	}
}

func TestParseMergeKeysRejected(t *testing.T) {
	file := `
base: &base {concurrency: 2}
targets:
  a:
    <<: *base
    endpoints: ["https://a.example.com"]
`
	got := problems(t, file, nil)
	for _, want := range []string{`base: unknown key`, `targets.a."<<": merge keys are not supported`} {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("problems %q do not include %q", got, want)
		}
	}
}

func TestParseAliases(t *testing.T) {
	cfg := mustParse(t, `
defaults:
  retry: &retry {max_attempts: 9}
targets:
  a:
    endpoints: &eps ["https://a.example.com"]
    retry: *retry
  b:
    endpoints: *eps
`, nil)
	if got := cfg.Targets["a"].Retry.MaxAttempts; got != 9 {
		t.Errorf("a max_attempts = %d, want 9", got)
	}
	if got := cfg.Targets["b"].Endpoints; len(got) != 1 || got[0] != "https://a.example.com" {
		t.Errorf("b endpoints = %v", got)
	}
}

func TestJoinPath(t *testing.T) {
	tests := []struct {
		name, path, key, want string
	}{
		{"first key", "", "targets", "targets"},
		{"plain key", "targets", "pay-ments_1", "targets.pay-ments_1"},
		{"space quoted", "targets", "bad name", `targets."bad name"`},
		{"dot quoted", "headers", "X.Y", `headers."X.Y"`},
		{"empty quoted", "targets", "", `targets.""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := joinPath(tt.path, tt.key); got != tt.want {
				t.Errorf("joinPath(%q, %q) = %q, want %q", tt.path, tt.key, got, tt.want)
			}
		})
	}
}
