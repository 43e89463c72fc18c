package config

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// validator collects the problems of a decoded config.
type validator struct {
	errs []FieldError
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// validate checks the decoded config. set holds the paths of the keys
// present in the file: a target's setting inherited from the defaults
// section is reported there, once, and not again under every target.
func validate(dec *decoded, set map[string]bool) []FieldError {
	v := &validator{}
	cfg := &dec.cfg
	if cfg.ServiceName == "" {
		v.fail("service_name", "must not be empty")
	}
	v.nats(&cfg.NATS)
	v.positive("streams.dead_letter_max_age", cfg.Streams.DeadLetterMaxAge)
	v.positive("streams.fallback_max_age", cfg.Streams.FallbackMaxAge)
	v.positive("streams.audit_max_age", cfg.Streams.AuditMaxAge)
	if p := cfg.Streams.Partitions; p < 1 || p > MaxPartitions {
		v.fail("streams.partitions", "must be between 1 and %d, got %d", MaxPartitions, p)
	}
	if msg := checkListen(cfg.HTTP.Listen, 0); msg != "" {
		v.fail("http.listen", "%s", msg)
	} else if cfg.HTTP.Token == "" && !LoopbackListen(cfg.HTTP.Listen) {
		v.fail("http.token", "is required when http.listen is not a loopback address (got %q)", cfg.HTTP.Listen)
	}
	v.token("http.token", cfg.HTTP.Token)
	v.positive("shutdown_timeout", cfg.ShutdownTimeout)
	v.positive("orphan_grace", cfg.OrphanGrace)
	v.security(&cfg.Security)
	if cfg.Fleet.Heartbeat < 100*time.Millisecond {
		v.fail("fleet.heartbeat", "must be at least 100ms, got %s", cfg.Fleet.Heartbeat)
	}
	if cfg.Health.Window < MinHealthWindow {
		v.fail("health.window", "must be at least %s, got %s", MinHealthWindow, cfg.Health.Window)
	}

	v.settings("defaults", dec.defaults, func(...string) bool { return true })
	if !dec.anyTarget {
		v.fail("targets", "at least one target is required")
	}
	for _, dt := range dec.targets {
		own := func(keys ...string) bool {
			for _, k := range keys {
				if set[dt.path+"."+k] {
					return true
				}
			}
			return false
		}
		v.target(dt.path, cfg.Targets[dt.name], own, set)
	}
	return v.errs
}

func (v *validator) nats(n *NATS) {
	if n.URL != "" {
		for _, u := range strings.Split(n.URL, ",") {
			if !validNATSURL(strings.TrimSpace(u)) {
				v.fail("nats.url", "must be a nats://, tls://, ws:// or wss:// URL with a host (or a comma-separated list of them)")
				break
			}
		}
	}
	if msg := checkListen(n.Embedded.Listen, 0); msg != "" { // 0: a free port
		v.fail("nats.embedded.listen", "%s", msg)
	} else if n.URL == "" && n.Embedded.Token == "" && !LoopbackListen(n.Embedded.Listen) {
		v.fail("nats.embedded.token", "is required when nats.embedded.listen is not a loopback address and the embedded server runs (no nats.url) (got %q)", n.Embedded.Listen)
	}
	v.token("nats.embedded.token", n.Embedded.Token)
	if n.Embedded.StoreDir == "" {
		v.fail("nats.embedded.store_dir", "must not be empty")
	}
	if n.User != "" && n.Password == "" {
		v.fail("nats.password", "is required with nats.user")
	}
	if n.Password != "" && n.User == "" {
		v.fail("nats.user", "is required with nats.password")
	}
	if n.TLS.Cert != "" && n.TLS.Key == "" {
		v.fail("nats.tls.key", "is required with nats.tls.cert")
	}
	if n.TLS.Key != "" && n.TLS.Cert == "" {
		v.fail("nats.tls.cert", "is required with nats.tls.key")
	}
	v.intRange("nats.replicas", n.Replicas, 1, 5)
	if !schemas.ValidPrefix(n.SubjectPrefix) {
		v.fail("nats.subject_prefix", "must be dot-separated tokens of letters, digits, _ and -, got %q", n.SubjectPrefix)
	}
}

func (v *validator) security(s *worker.Security) {
	if s.MaxJobBytes <= 0 {
		v.fail("security.max_job_bytes", "must be greater than 0")
	}
	if s.MaxResponseBytes <= 0 {
		v.fail("security.max_response_bytes", "must be greater than 0")
	}
	for i, name := range s.RedactHeaders {
		if !validHeaderName(name) {
			v.fail(indexPath("security.redact_headers", i), "must be a valid header name, got %q", name)
		}
	}
	for i, k := range s.StateKeys {
		if len(k) < 16 {
			v.fail(indexPath("security.state_keys", i), "must be at least 16 bytes, got %d", len(k))
		}
	}
	for i, pat := range s.ReplyToAllow {
		if !validSubjectPattern(pat) {
			v.fail(indexPath("security.reply_to_allow", i), "must be a NATS subject pattern (non-empty tokens, * for one, > last for the rest), got %q", pat)
		}
	}
}

// MinTokenBytes is the shortest http.token and nats.embedded.token
// accepted: 16 bytes, as security.state_keys.
const MinTokenBytes = 16

// token checks a secret token at path (empty: not set). The message never
// quotes it.
func (v *validator) token(path, tok string) {
	if tok != "" && len(tok) < MinTokenBytes {
		v.fail(path, "must be at least %d bytes (use ${VAR}), got %d", MinTokenBytes, len(tok))
	}
	if !validHeaderValue(tok) || strings.ContainsAny(tok, " \t") {
		v.fail(path, "must not contain spaces or control characters")
	}
}

// LoopbackListen reports whether the host:port listen address binds a
// loopback interface only: a host in 127.0.0.0/8, ::1 or localhost. An
// empty host, 0.0.0.0, :: and any other address or name are not.
func LoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// validSubjectPattern reports whether p is a NATS subject pattern:
// non-empty tokens without whitespace, '*' alone in a token, '>' alone in
// the last.
func validSubjectPattern(p string) bool {
	toks := strings.Split(p, ".")
	for i, tok := range toks {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") ||
			(tok != "*" && strings.Contains(tok, "*")) ||
			(tok != ">" && strings.Contains(tok, ">")) || (tok == ">" && i != len(toks)-1) {
			return false
		}
	}
	return true
}

// target validates one merged target. own reports whether a key, relative
// to path, was set by the target itself.
func (v *validator) target(path string, t worker.Target, own func(keys ...string) bool, set map[string]bool) {
	if !schemas.ValidTarget(t.Name) {
		v.fail(path, "target name must match ^[A-Za-z0-9_-]{1,64}$")
	}
	if len(t.Endpoints) == 0 {
		if !set[path+".endpoints"] || t.Endpoints != nil {
			v.fail(path+".endpoints", "at least one endpoint is required")
		}
	}
	seen := map[string]int{}
	for i, e := range t.Endpoints {
		p := indexPath(path+".endpoints", i)
		if msg := checkEndpoint(e); msg != "" {
			v.fail(p, "%s", msg)
			continue
		}
		key := strings.TrimSuffix(e, "/")
		if first, dup := seen[key]; dup {
			v.fail(p, "duplicates endpoints[%d]", first)
			continue
		}
		seen[key] = i
	}
	v.headers(path+".headers", t.Headers)
	if sg := t.Signing; sg != nil {
		v.signing(path+".signing.secret", sg, set)
	}
	v.settings(path, t, own)
	if fb := t.Fallback; fb != nil {
		p := path + ".fallback.status"
		if !set[p] {
			v.fail(p, "is required")
		} else if fb.Status < 100 || fb.Status > 599 {
			v.fail(p, "must be between 100 and 599")
		}
	}
}

// signing checks the signing secrets with worker.NewSigner, whose errors
// never quote a secret; the message names the list item when there are
// several.
func (v *validator) signing(path string, sg *worker.Signing, set map[string]bool) {
	if !set[path] {
		v.fail(path, "is required")
		return
	}
	if len(sg.Secrets) == 0 {
		v.fail(path, "at least one secret is required")
		return
	}
	for i, sec := range sg.Secrets {
		if _, err := worker.NewSigner(sec); err != nil {
			p := path
			if len(sg.Secrets) > 1 {
				p = indexPath(path, i)
			}
			v.fail(p, "must be a Standard Webhooks secret (whsec_ then base64 of at least 16 bytes): %s", signerProblem(err))
		}
	}
}

// signerProblem is NewSigner's error without its "secret 1" numbering,
// which the key path already gives.
func signerProblem(err error) string {
	msg := strings.TrimPrefix(err.Error(), worker.ErrInvalidSecret.Error()+": ")
	return strings.Replace(msg, "secret 1 ", "", 1)
}

func (v *validator) headers(path string, h map[string]string) {
	canonical := map[string]string{}
	for _, name := range sortedKeys(h) {
		p := joinPath(path, name)
		if !validHeaderName(name) {
			v.fail(p, "must be a valid header name")
			continue
		}
		if !validHeaderValue(h[name]) {
			v.fail(p, "value must not contain control characters such as CR or LF")
		}
		c := strings.ToLower(name)
		if other, dup := canonical[c]; dup {
			v.fail(p, "duplicates header %q (names are case-insensitive)", other)
			continue
		}
		canonical[c] = name
	}
}

// settings validates the settings of the defaults section or of a target
// at path. A problem is reported only if own says the key was set at that
// level; a problem involving two keys, if either was.
func (v *validator) settings(path string, t worker.Target, own func(keys ...string) bool) {
	at := func(key string) string { return path + "." + key }
	if own("concurrency") {
		v.intRange(at("concurrency"), t.Concurrency, 1, 10000)
	}

	to := t.Timeouts
	for _, d := range []struct {
		key string
		val time.Duration
	}{{"timeouts.connect", to.Connect}, {"timeouts.tls", to.TLS}, {"timeouts.response_header", to.ResponseHeader}} {
		switch {
		case d.val <= 0:
			if own(d.key) {
				v.fail(at(d.key), "must be greater than 0")
			}
		case to.Total > 0 && d.val > to.Total && own(d.key) && own("timeouts.total"):
			// Only when both are set at the same level: a target that lowers
			// total below an inherited response_header is fine (total caps it).
			v.fail(at(d.key), "must not exceed timeouts.total (%s)", to.Total)
		}
	}
	if own("timeouts.total") {
		v.positive(at("timeouts.total"), to.Total)
	}

	r := t.Retry
	if own("retry.max_attempts") {
		v.intRange(at("retry.max_attempts"), r.MaxAttempts, 1, 100)
	}
	if own("retry.initial_interval") {
		v.positive(at("retry.initial_interval"), r.InitialInterval)
	}
	if own("retry.multiplier") && !(r.Multiplier >= 1) {
		v.fail(at("retry.multiplier"), "must be at least 1")
	}
	if r.InitialInterval > 0 && r.MaxInterval < r.InitialInterval && own("retry.max_interval", "retry.initial_interval") {
		v.fail(at("retry.max_interval"), "must be at least retry.initial_interval (%s)", r.InitialInterval)
	}
	if own("retry.randomization") && !(r.Randomization >= 0 && r.Randomization <= 1) {
		v.fail(at("retry.randomization"), "must be between 0 and 1")
	}
	if own("retry.max_elapsed") {
		v.positive(at("retry.max_elapsed"), r.MaxElapsed)
	}
	if own("retry.retry_on_status") {
		p := at("retry.retry_on_status")
		if len(r.RetryOnStatus) == 0 {
			v.fail(p, "must list at least one status")
		}
		for i, s := range r.RetryOnStatus {
			if s < 100 || s > 599 {
				v.fail(indexPath(p, i), "must be between 100 and 599")
			}
		}
	}
	if own("retry.max_retry_after") && r.MaxRetryAfter < 0 {
		v.fail(at("retry.max_retry_after"), "must not be negative")
	}
	if own("retry.budget_ratio") && !(r.BudgetRatio >= 0 && r.BudgetRatio <= 1) {
		v.fail(at("retry.budget_ratio"), "must be between 0 (no budget) and 1")
	}
	if own("limit_scope") && t.LimitScope != worker.LimitScopeInstance && t.LimitScope != worker.LimitScopeFleet {
		v.fail(at("limit_scope"), "must be %q or %q, got %q", worker.LimitScopeInstance, worker.LimitScopeFleet, t.LimitScope)
	}
	if rl := t.RateLimit; rl != nil {
		if own("rate_limit.per_second") || own("rate_limit") {
			if !(rl.PerSecond > 0) {
				v.fail(at("rate_limit.per_second"), "must be greater than 0")
			}
		}
		if own("rate_limit.burst") && rl.Burst < 0 {
			v.fail(at("rate_limit.burst"), "must not be negative (0: per_second rounded up)")
		}
	}

	b := t.Breaker
	if own("breaker.consecutive_failures") && b.ConsecutiveFailures < 1 {
		v.fail(at("breaker.consecutive_failures"), "must be at least 1")
	}
	if own("breaker.failure_ratio") && !(b.FailureRatio > 0 && b.FailureRatio <= 1) {
		v.fail(at("breaker.failure_ratio"), "must be greater than 0 and at most 1")
	}
	if own("breaker.min_requests") && b.MinRequests < 1 {
		v.fail(at("breaker.min_requests"), "must be at least 1")
	}
	if own("breaker.window") {
		v.positive(at("breaker.window"), b.Window)
	}
	if own("breaker.open_timeout") {
		v.positive(at("breaker.open_timeout"), b.OpenTimeout)
	}
	if own("breaker.half_open_requests") && b.HalfOpenRequests < 1 {
		v.fail(at("breaker.half_open_requests"), "must be at least 1")
	}
	if own("retry.after_send") && !slices.Contains(schemas.AfterSendPolicies, t.Retry.AfterSend) {
		v.fail(at("retry.after_send"), "must be one of %s, got %q", strings.Join(schemas.AfterSendPolicies, ", "), t.Retry.AfterSend)
	}
	if own("breaker.when_open") && b.WhenOpen != worker.WhenOpenFallback && b.WhenOpen != worker.WhenOpenHold {
		v.fail(at("breaker.when_open"), "must be %q or %q, got %q", worker.WhenOpenFallback, worker.WhenOpenHold, b.WhenOpen)
	}
}

func (v *validator) positive(path string, d time.Duration) {
	if d <= 0 {
		v.fail(path, "must be greater than 0")
	}
}

func (v *validator) intRange(path string, n, lo, hi int) {
	switch {
	case n < lo:
		v.fail(path, "must be at least %d", lo)
	case n > hi:
		v.fail(path, "must be at most %d", hi)
	}
}

// checkEndpoint returns what is wrong with a target's base URL, or "".
// The URL itself is not repeated: it may hold a secret.
func checkEndpoint(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "must be a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL"
	case u.Opaque != "" || u.Hostname() == "":
		return "must have a host"
	case u.User != nil:
		return "must not contain user info (send credentials in headers)"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query (jobs carry it in their path)"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment"
	}
	return ""
}

func validNATSURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return false
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
		return true
	}
	return false
}

// checkListen returns what is wrong with a host:port listen address, or "".
func checkListen(s string, minPort int) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("must be host:port, got %q", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < minPort || n > 65535 {
		return fmt.Sprintf("port must be a number from %d to 65535, got %q", minPort, port)
	}
	return ""
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether value has no control characters other
// than tab, which would break or smuggle headers.
func validHeaderValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
