package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// contractExample is a complete config file, the example of docs/config.md
// before the keys added since (fleet, budget_ratio, rate_limit, signing, ...).
const contractExample = `service_name: orders-dispatcher
nats:
  url: nats://127.0.0.1:4222        # absent: an embedded JetStream server is started
  creds: ""                          # optional .creds file
  embedded: {listen: "127.0.0.1:4222", store_dir: ./data/nats}
  replicas: 1
  subject_prefix: dispatch
streams:
  dead_letter_max_age: 720h
  fallback_max_age: 168h
http:
  listen: 127.0.0.1:9090            # /healthz, /readyz (and /metrics when it exists)
shutdown_timeout: 30s
orphan_grace: 60s
security:
  allow_private_networks: false      # true lets targets resolve to loopback/private addresses
  max_job_bytes: 1048576
  max_response_bytes: 65536
  redact_headers: [X-Internal-Token]
defaults:                            # every key here may be overridden per target
  concurrency: 32
  timeouts: {connect: 3s, tls: 3s, response_header: 10s, total: 30s}
  retry:
    max_attempts: 5                  # attempts in all, the first included
    initial_interval: 1s
    multiplier: 2
    max_interval: 60s
    randomization: 0.2
    max_elapsed: 1h
    retry_on_status: [408, 425, 429, 500, 502, 503, 504]
    max_retry_after: 5m
  breaker:
    consecutive_failures: 5          # trips on this many failures in a row ...
    failure_ratio: 0.5               # ... or on this ratio once min_requests were seen in window
    min_requests: 20
    window: 60s
    open_timeout: 30s
    half_open_requests: 1
    when_open: fallback
targets:
  payments:
    endpoints: ["https://pay.example.com"]
    headers: {Authorization: "Bearer ${PAYMENTS_TOKEN}"}
    timeouts: {total: 10s}
    fallback: {status: 202, body: {"queued": true}}
`

func TestParseContractExample(t *testing.T) {
	cfg := mustParse(t, contractExample, env(map[string]string{"PAYMENTS_TOKEN": "tok"}))
	p := cfg.Targets["payments"]
	tests := []struct {
		name      string
		got, want any
	}{
		{"service name", cfg.ServiceName, "orders-dispatcher"},
		{"nats url", cfg.NATS.URL, "nats://127.0.0.1:4222"},
		{"embedded store dir", cfg.NATS.Embedded.StoreDir, "./data/nats"},
		{"redact headers", len(cfg.Security.RedactHeaders), 1},
		{"target names", len(cfg.TargetNames()), 1},
		{"header expanded", p.Headers["Authorization"], "Bearer tok"},
		{"target total timeout", p.Timeouts.Total, 10 * time.Second},
		{"response header kept below total", p.Timeouts.ResponseHeader, 10 * time.Second},
		{"retry from defaults", p.Retry.MaxRetryAfter, 5 * time.Minute},
		{"fallback status", p.Fallback.Status, 202},
		{"fallback body", string(p.Fallback.Body), `{"queued":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestParseContractExampleWithoutToken(t *testing.T) {
	got := problems(t, contractExample, nil)
	want := "targets.payments.headers.Authorization: environment variable PAYMENTS_TOKEN is not set"
	if len(got) != 1 || got[0] != want {
		t.Errorf("problems = %q, want only %q", got, want)
	}
}

func TestParseWholeFileProblems(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"empty file", "", "targets: at least one target is required"},
		{"comments only", "# nothing here\n", "targets: at least one target is required"},
		{"syntax error", "targets: [\n", "invalid YAML: line 1: did not find expected node content"},
		{"tab indentation", "targets:\n\ta: 1\n", "invalid YAML: line 2: found character that cannot start any token"},
		{"two documents", validTarget + "---\n" + validTarget, "invalid YAML: the file holds more than one document"},
		{"root is a list", "- a\n", `the config must be a YAML mapping, got a list`},
		{"root is a scalar", "hello\n", `the config must be a YAML mapping, got "hello"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, tt.file, nil, tt.want)
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dispatcher.yaml")
	if err := os.WriteFile(path, []byte(contractExample), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PAYMENTS_TOKEN", "from-env")
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := cfg.Targets["payments"].Headers["Authorization"]; got != "Bearer from-env" {
		t.Errorf("Authorization = %q, want the process environment's token", got)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("targets: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		path        string
		wantIs      []error
		wantIsNot   error
		wantErrText string
	}{
		{
			name:      "missing file",
			path:      filepath.Join(dir, "nope.yaml"),
			wantIs:    []error{ErrConfigFile, fs.ErrNotExist},
			wantIsNot: ErrInvalidConfig,
		},
		{
			name:      "directory",
			path:      dir,
			wantIs:    []error{ErrConfigFile},
			wantIsNot: ErrInvalidConfig,
		},
		{
			name:        "invalid content",
			path:        invalid,
			wantIs:      []error{ErrInvalidConfig},
			wantIsNot:   ErrConfigFile,
			wantErrText: "targets: at least one target is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			if errors.Is(err, tt.wantIsNot) {
				t.Errorf("errors.Is(%v, %v) = true", err, tt.wantIsNot)
			}
			if tt.wantErrText != "" && err.Error() != tt.wantErrText {
				t.Errorf("error = %q, want %q", err, tt.wantErrText)
			}
		})
	}
}
