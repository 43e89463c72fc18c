package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateServiceWide(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"service name empty", withTop(`service_name: ""`), "service_name: must not be empty"},
		{"nats url scheme", withTop("nats: {url: \"http://n.example.com:4222\"}"), "nats.url: must be a nats://, tls://, ws:// or wss:// URL with a host (or a comma-separated list of them)"},
		{"nats url without host", withTop("nats: {url: \"nats://\"}"), "nats.url: must be a nats://, tls://, ws:// or wss:// URL with a host (or a comma-separated list of them)"},
		{"nats url one of a list", withTop("nats: {url: \"nats://a:4222,b:4222\"}"), "nats.url: must be a nats://, tls://, ws:// or wss:// URL with a host (or a comma-separated list of them)"},
		{"embedded listen", withTop("nats: {embedded: {listen: localhost}}"), `nats.embedded.listen: must be host:port, got "localhost"`},
		{"embedded listen port out of range", withTop("nats: {embedded: {listen: \"127.0.0.1:70000\"}}"), `nats.embedded.listen: port must be a number from 0 to 65535, got "70000"`},
		{"embedded store dir", withTop(`nats: {embedded: {store_dir: ""}}`), "nats.embedded.store_dir: must not be empty"},
		{"replicas low", withTop("nats: {replicas: 0}"), "nats.replicas: must be at least 1"},
		{"replicas high", withTop("nats: {replicas: 6}"), "nats.replicas: must be at most 5"},
		{"subject prefix wildcard", withTop("nats: {subject_prefix: \"a.*\"}"), `nats.subject_prefix: must be dot-separated tokens of letters, digits, _ and -, got "a.*"`},
		{"subject prefix full wildcard", withTop("nats: {subject_prefix: \"a.>\"}"), `nats.subject_prefix: must be dot-separated tokens of letters, digits, _ and -, got "a.>"`},
		{"subject prefix empty token", withTop("nats: {subject_prefix: \"a..b\"}"), `nats.subject_prefix: must be dot-separated tokens of letters, digits, _ and -, got "a..b"`},
		{"subject prefix space", withTop("nats: {subject_prefix: \"a b\"}"), `nats.subject_prefix: must be dot-separated tokens of letters, digits, _ and -, got "a b"`},
		{"subject prefix dollar (no valid stream name)", withTop("nats: {subject_prefix: \"a$b\"}"), `nats.subject_prefix: must be dot-separated tokens of letters, digits, _ and -, got "a$b"`},
		{"dead letter max age", withTop("streams: {dead_letter_max_age: 0s}"), "streams.dead_letter_max_age: must be greater than 0"},
		{"fallback max age", withTop("streams: {fallback_max_age: -1h}"), "streams.fallback_max_age: must be greater than 0"},
		{"http listen", withTop("http: {listen: \"9090\"}"), `http.listen: must be host:port, got "9090"`},
		{"http listen port range", withTop("http: {listen: \"127.0.0.1:70000\"}"), `http.listen: port must be a number from 0 to 65535, got "70000"`},
		{"http listen named port", withTop("http: {listen: \"127.0.0.1:http\"}"), `http.listen: port must be a number from 0 to 65535, got "http"`},
		{"shutdown timeout", withTop("shutdown_timeout: 0s"), "shutdown_timeout: must be greater than 0"},
		{"orphan grace", withTop("orphan_grace: -5s"), "orphan_grace: must be greater than 0"},
		{"max job bytes", withTop("security: {max_job_bytes: 0}"), "security.max_job_bytes: must be greater than 0"},
		{"max response bytes", withTop("security: {max_response_bytes: -1}"), "security.max_response_bytes: must be greater than 0"},
		{"redact header name", withTop("security: {redact_headers: [X-Ok, \"Bad Name\"]}"), `security.redact_headers[1]: must be a valid header name, got "Bad Name"`},
		{"reply_to_allow pattern", withTop("security: {reply_to_allow: [\"app.>\", \"a.>.b\"]}"), `security.reply_to_allow[1]: must be a NATS subject pattern (non-empty tokens, * for one, > last for the rest), got "a.>.b"`},
		{"http all interfaces without a token", withTop(`http: {listen: ":9090"}`), `http.token: is required when http.listen is not a loopback address (got ":9090")`},
		{"http 0.0.0.0 without a token", withTop(`http: {listen: "0.0.0.0:9090"}`), `http.token: is required when http.listen is not a loopback address (got "0.0.0.0:9090")`},
		{"http [::] without a token", withTop(`http: {listen: "[::]:9090"}`), `http.token: is required when http.listen is not a loopback address (got "[::]:9090")`},
		{"http private address without a token", withTop(`http: {listen: "10.0.0.5:9090"}`), `http.token: is required when http.listen is not a loopback address (got "10.0.0.5:9090")`},
		{"http host name without a token", withTop(`http: {listen: "dispatcher.internal:9090"}`), `http.token: is required when http.listen is not a loopback address (got "dispatcher.internal:9090")`},
		{"http empty token", withTop(`http: {listen: "0.0.0.0:9090", token: ""}`), `http.token: is required when http.listen is not a loopback address (got "0.0.0.0:9090")`},
		{"http short token", withTop(`http: {token: short-secret}`), "http.token: must be at least 16 bytes (use ${VAR}), got 12"},
		{"http token with a space", withTop(`http: {token: "0123456789 abcdef"}`), "http.token: must not contain spaces or control characters"},
		{"embedded beyond loopback without a token", withTop(`nats: {embedded: {listen: "0.0.0.0:4222"}}`),
			`nats.embedded.token: is required when nats.embedded.listen is not a loopback address and the embedded server runs (no nats.url) (got "0.0.0.0:4222")`},
		{"embedded all interfaces without a token", withTop(`nats: {embedded: {listen: ":4222"}}`),
			`nats.embedded.token: is required when nats.embedded.listen is not a loopback address and the embedded server runs (no nats.url) (got ":4222")`},
		{"embedded short token", withTop(`nats: {embedded: {token: short}}`), "nats.embedded.token: must be at least 16 bytes (use ${VAR}), got 5"},
		{"no targets section", "service_name: x\n", "targets: at least one target is required"},
		{"empty targets", "targets: {}\n", "targets: at least one target is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, tt.file, nil, tt.want)
		})
	}
}

func TestValidateServiceWideAccepts(t *testing.T) {
	tests := []struct {
		name string
		top  string
	}{
		{"nats url list", `nats: {url: "nats://a:4222, tls://b:4222"}`},
		{"nats websocket", `nats: {url: "wss://n.example.com/ws"}`},
		{"nats url with user", `nats: {url: "nats://u:p@n.example.com"}`},
		{"http port 0", `http: {listen: "127.0.0.1:0"}`},
		{"http all interfaces with a token", `http: {listen: ":9090", token: 0123456789abcdef}`},
		{"http localhost without a token", `http: {listen: "localhost:9090"}`},
		{"http loopback v6 without a token", `http: {listen: "[::1]:0"}`},
		{"http loopback 127/8 without a token", `http: {listen: "127.3.4.5:9090"}`},
		{"http loopback with a token", `http: {listen: "127.0.0.1:9090", token: 0123456789abcdef}`},
		{"embedded all interfaces with a token", `nats: {embedded: {listen: "0.0.0.0:4222", token: 0123456789abcdef}}`},
		{"embedded all interfaces with a url", `nats: {url: "nats://n:4222", embedded: {listen: "0.0.0.0:4222"}}`},
		{"http ipv6", `http: {listen: "[::1]:9090"}`},
		{"subject prefix with tokens", `nats: {subject_prefix: "acme.dispatch"}`},
		{"replicas 5", `nats: {replicas: 5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, withTop(tt.top), nil)
		})
	}
}

func TestValidateTarget(t *testing.T) {
	const target = "targets:\n  %s:\n    endpoints: [\"https://a.example.com\"]\n"
	tests := []struct {
		name string
		file string
		want string
	}{
		{"name with space", strings.Replace(target, "%s", `"bad name"`, 1), `targets."bad name": target name must match ^[A-Za-z0-9_-]{1,64}$`},
		{"name too long", strings.Replace(target, "%s", strings.Repeat("n", 65), 1), "targets." + strings.Repeat("n", 65) + ": target name must match ^[A-Za-z0-9_-]{1,64}$"},
		{"name with dot", strings.Replace(target, "%s", "a.b", 1), `targets."a.b": target name must match ^[A-Za-z0-9_-]{1,64}$`},
		{"endpoints absent", "targets:\n  a: {concurrency: 1}\n", "targets.a.endpoints: at least one endpoint is required"},
		{"endpoints empty", "targets:\n  a: {endpoints: []}\n", "targets.a.endpoints: at least one endpoint is required"},
		{"null target", "targets:\n  a:\n", "targets.a.endpoints: at least one endpoint is required"},
		{"endpoint scheme", "targets:\n  a: {endpoints: [\"ftp://a.example.com\"]}\n", "targets.a.endpoints[0]: must be an http or https URL"},
		{"endpoint relative", "targets:\n  a: {endpoints: [\"/v1\"]}\n", "targets.a.endpoints[0]: must be an http or https URL"},
		{"endpoint no host", "targets:\n  a: {endpoints: [\"https://\"]}\n", "targets.a.endpoints[0]: must have a host"},
		{"endpoint opaque", "targets:\n  a: {endpoints: [\"https:a.example.com\"]}\n", "targets.a.endpoints[0]: must have a host"},
		{"endpoint user info", "targets:\n  a: {endpoints: [\"https://u:p@a.example.com\"]}\n", "targets.a.endpoints[0]: must not contain user info (send credentials in headers)"},
		{"endpoint query", "targets:\n  a: {endpoints: [\"https://a.example.com/?x=1\"]}\n", "targets.a.endpoints[0]: must not have a query (jobs carry it in their path)"},
		{"endpoint empty query", "targets:\n  a: {endpoints: [\"https://a.example.com/?\"]}\n", "targets.a.endpoints[0]: must not have a query (jobs carry it in their path)"},
		{"endpoint fragment", "targets:\n  a: {endpoints: [\"https://a.example.com/#top\"]}\n", "targets.a.endpoints[0]: must not have a fragment"},
		{"endpoint bad port", "targets:\n  a: {endpoints: [\"https://a.example.com:x\"]}\n", "targets.a.endpoints[0]: must be a valid URL"},
		{"endpoint duplicate", "targets:\n  a: {endpoints: [\"https://a.example.com\", \"https://a.example.com/\"]}\n", "targets.a.endpoints[1]: duplicates endpoints[0]"},
		{"header name", withTarget(`headers: {"X Bad": v}`), `targets.a.headers."X Bad": must be a valid header name`},
		{"header value CR LF", withTarget(`headers: {X-A: "v\r\nX-Evil: 1"}`), "targets.a.headers.X-A: value must not contain control characters such as CR or LF"},
		{"header value NUL", withTarget(`headers: {X-A: "v\0"}`), "targets.a.headers.X-A: value must not contain control characters such as CR or LF"},
		{"header case duplicate", withTarget(`headers: {Authorization: a, authorization: b}`), `targets.a.headers.authorization: duplicates header "Authorization" (names are case-insensitive)`},
		{"concurrency low", withTarget("concurrency: 0"), "targets.a.concurrency: must be at least 1"},
		{"concurrency high", withTarget("concurrency: 10001"), "targets.a.concurrency: must be at most 10000"},
		{"connect timeout", withTarget("timeouts: {connect: 0s}"), "targets.a.timeouts.connect: must be greater than 0"},
		{"tls timeout", withTarget("timeouts: {tls: -1s}"), "targets.a.timeouts.tls: must be greater than 0"},
		{"response header timeout", withTarget("timeouts: {response_header: 0s}"), "targets.a.timeouts.response_header: must be greater than 0"},
		{"total timeout", withTarget("timeouts: {total: 0s}"), "targets.a.timeouts.total: must be greater than 0"},
		{"connect above total", withTarget("timeouts: {connect: 5s, total: 4s}"), "targets.a.timeouts.connect: must not exceed timeouts.total (4s)"},
		{"tls above total set beside it", withTarget("timeouts: {tls: 31s, total: 30s}"), "targets.a.timeouts.tls: must not exceed timeouts.total (30s)"},
		{"max attempts low", withTarget("retry: {max_attempts: 0}"), "targets.a.retry.max_attempts: must be at least 1"},
		{"max attempts high", withTarget("retry: {max_attempts: 101}"), "targets.a.retry.max_attempts: must be at most 100"},
		{"initial interval", withTarget("retry: {initial_interval: 0s}"), "targets.a.retry.initial_interval: must be greater than 0"},
		{"multiplier", withTarget("retry: {multiplier: 0.5}"), "targets.a.retry.multiplier: must be at least 1"},
		{"max interval", withTarget("retry: {initial_interval: 2m}"), "targets.a.retry.max_interval: must be at least retry.initial_interval (2m0s)"},
		{"randomization low", withTarget("retry: {randomization: -0.1}"), "targets.a.retry.randomization: must be between 0 and 1"},
		{"randomization high", withTarget("retry: {randomization: 1.5}"), "targets.a.retry.randomization: must be between 0 and 1"},
		{"max elapsed", withTarget("retry: {max_elapsed: 0s}"), "targets.a.retry.max_elapsed: must be greater than 0"},
		{"retry status low", withTarget("retry: {retry_on_status: [500, 99]}"), "targets.a.retry.retry_on_status[1]: must be between 100 and 599"},
		{"retry status high", withTarget("retry: {retry_on_status: [600]}"), "targets.a.retry.retry_on_status[0]: must be between 100 and 599"},
		{"retry status empty", withTarget("retry: {retry_on_status: []}"), "targets.a.retry.retry_on_status: must list at least one status"},
		{"max retry after", withTarget("retry: {max_retry_after: -1s}"), "targets.a.retry.max_retry_after: must not be negative"},
		{"consecutive failures", withTarget("breaker: {consecutive_failures: 0}"), "targets.a.breaker.consecutive_failures: must be at least 1"},
		{"failure ratio zero", withTarget("breaker: {failure_ratio: 0}"), "targets.a.breaker.failure_ratio: must be greater than 0 and at most 1"},
		{"failure ratio above one", withTarget("breaker: {failure_ratio: 1.01}"), "targets.a.breaker.failure_ratio: must be greater than 0 and at most 1"},
		{"min requests", withTarget("breaker: {min_requests: 0}"), "targets.a.breaker.min_requests: must be at least 1"},
		{"window", withTarget("breaker: {window: 0s}"), "targets.a.breaker.window: must be greater than 0"},
		{"open timeout", withTarget("breaker: {open_timeout: 0s}"), "targets.a.breaker.open_timeout: must be greater than 0"},
		{"half open requests", withTarget("breaker: {half_open_requests: 0}"), "targets.a.breaker.half_open_requests: must be at least 1"},
		{"when open", withTarget("breaker: {when_open: drop}"), `targets.a.breaker.when_open: must be "fallback" or "hold", got "drop"`},
		{"limit scope", withTarget("limit_scope: cluster"), `targets.a.limit_scope: must be "instance" or "fleet", got "cluster"`},
		{"fleet heartbeat", withTop("fleet: {heartbeat: 10ms}"), "fleet.heartbeat: must be at least 100ms, got 10ms"},
		{"health window", withTop("health: {window: 500ms}"), "health.window: must be at least 1s, got 500ms"},
		{"fleet unknown key", withTop("fleet: {share_breaker: true}"), `fleet.share_breaker: unknown key (did you mean "share_breakers"?)`},
		{"fallback status low", withTarget("fallback: {status: 99}"), "targets.a.fallback.status: must be between 100 and 599"},
		{"fallback status high", withTarget("fallback: {status: 600}"), "targets.a.fallback.status: must be between 100 and 599"},
		{"fallback status required", withTarget("fallback: {body: {queued: true}}"), "targets.a.fallback.status: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, tt.file, nil, tt.want)
		})
	}
}

func TestValidateTargetAccepts(t *testing.T) {
	tests := []struct {
		name  string
		extra string
	}{
		{"boundaries", "concurrency: 10000\nretry: {max_attempts: 100, multiplier: 1, randomization: 1, max_retry_after: 0s, retry_on_status: [100, 599]}\nbreaker: {failure_ratio: 1, when_open: hold}"},
		{"timeouts equal to total", "timeouts: {connect: 2s, tls: 2s, response_header: 2s, total: 2s}"},
		{"max interval equal to initial", "retry: {initial_interval: 5s, max_interval: 5s}"},
		{"header value with tab and empty value", "headers: {X-A: \"a\\tb\", X-B: \"\"}"},
		{"fallback without body", "fallback: {status: 503}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, withTarget(tt.extra), nil)
		})
	}
	t.Run("endpoint forms", func(t *testing.T) {
		mustParse(t, `
targets:
  a:
    endpoints: ["https://a.example.com/", "http://10.0.0.1:8080/api/v1", "HTTPS://B.example.com", "http://[::1]:80"]
`, nil)
	})
}

// TestValidateInheritedReportedOnce checks that a bad value in the defaults
// section is reported there, not again under every target that inherits it.
func TestValidateInheritedReportedOnce(t *testing.T) {
	file := `
defaults:
  retry: {max_attempts: 0}
  breaker: {when_open: later}
targets:
  a: {endpoints: ["https://a.example.com"]}
  b: {endpoints: ["https://b.example.com"], retry: {max_attempts: 200}}
`
	got := problems(t, file, nil)
	want := []string{
		"defaults.retry.max_attempts: must be at least 1",
		`defaults.breaker.when_open: must be "fallback" or "hold", got "later"`,
		"targets.b.retry.max_attempts: must be at most 100",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	file := `
service_name: ""
nats: {replicas: 9, bogus: 1}
defaults:
  timeouts: {total: 3 sec}
targets:
  a:
    endpoints: ["ftp://a.example.com"]
    retrys: {}
    concurrency: lots
  "bad name":
    endpoints: ["https://b.example.com"]
    fallback: {status: 700}
`
	got := problems(t, file, nil)
	want := []string{
		// Decoding, in file order.
		"nats.bogus: unknown key",
		`defaults.timeouts.total: invalid duration "3 sec"`,
		`targets.a.retrys: unknown key (did you mean "retry"?)`,
		`targets.a.concurrency: must be an integer, got "lots"`,
		// Validation.
		"service_name: must not be empty",
		"nats.replicas: must be at most 5",
		"targets.a.endpoints[0]: must be an http or https URL",
		`targets."bad name": target name must match ^[A-Za-z0-9_-]{1,64}$`,
		`targets."bad name".fallback.status: must be between 100 and 599`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// A target may lower timeouts.total below an inherited response_header (or
// tls, connect): total caps the call anyway, so that is not an error.
func TestTotalBelowInheritedInnerTimeoutIsValid(t *testing.T) {
	cfg, err := Parse([]byte(`
defaults: {timeouts: {response_header: 2s}}
targets:
  a:
    endpoints: ["https://a.example.com"]
    timeouts: {total: 1s}
`), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Targets["a"].Timeouts; got.Total != time.Second || got.ResponseHeader != 2*time.Second {
		t.Fatalf("timeouts %+v, want total 1s and response_header 2s", got)
	}
}
