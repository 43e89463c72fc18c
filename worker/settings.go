package worker

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// When-open policies of a breaker.
const (
	WhenOpenFallback = "fallback"
	WhenOpenHold     = "hold"
)

// Scopes of a target's concurrency and rate limit.
const (
	// LimitScopeInstance: each instance applies the figures as they are.
	LimitScopeInstance = "instance"
	// LimitScopeFleet: the figures are for the whole fleet; each instance
	// applies its share, split by the live instance count.
	LimitScopeFleet = "fleet"
)

// Timeouts are the split timeouts of one HTTP call. A zero field takes the
// documented default: Connect 3s, TLS 3s, ResponseHeader 10s, Total 30s.
type Timeouts struct {
	Connect        time.Duration
	TLS            time.Duration
	ResponseHeader time.Duration
	Total          time.Duration
}

// RetryPolicy says which failures are retried and how long to wait. Zero
// fields take the documented defaults (MaxAttempts 5, InitialInterval 1s,
// Multiplier 2, MaxInterval 60s, MaxElapsed 1h, RetryOnStatus
// 408/425/429/500/502/503/504, MaxRetryAfter 5m), except Randomization, where
// zero means no jitter (the config layer supplies its 0.2 default).
type RetryPolicy struct {
	MaxAttempts     int
	InitialInterval time.Duration
	Multiplier      float64
	MaxInterval     time.Duration
	Randomization   float64
	MaxElapsed      time.Duration
	RetryOnStatus   []int
	MaxRetryAfter   time.Duration
	// BudgetRatio caps retries at this ratio of the target's recent calls
	// (a one-minute sliding window, never below RetryBudgetFloor retries
	// per window); a retry over budget is postponed, not attempted and not
	// counted. Zero means the default 0.2.
	BudgetRatio float64
	// NoBudget turns the retry budget off (the file's retry.budget_ratio: 0).
	NoBudget bool
	// AfterSend says what happens to a failure without a response that
	// came after the request may have reached the target (one of
	// schemas.AfterSendPolicies; zero means schemas.AfterSendRetry).
	AfterSend string
}

// RateLimit caps the calls a target receives: PerSecond on average, Burst
// at once. A nil *RateLimit means unlimited.
type RateLimit struct {
	PerSecond float64
	// Burst is the bucket size; zero means max(1, PerSecond rounded up).
	Burst int
}

// BreakerPolicy configures the circuit breaker of each endpoint. Zero fields
// take the documented defaults: ConsecutiveFailures 5, FailureRatio 0.5,
// MinRequests 20, Window 60s, OpenTimeout 30s, HalfOpenRequests 1,
// WhenOpen "fallback".
type BreakerPolicy struct {
	ConsecutiveFailures int
	FailureRatio        float64
	MinRequests         int
	Window              time.Duration
	OpenTimeout         time.Duration
	HalfOpenRequests    int
	WhenOpen            string
}

// FallbackResponse is the preset response a target answers with while its
// breaker is open. Body is JSON (nil for none).
type FallbackResponse struct {
	Status int
	Body   json.RawMessage
}

// Target is everything a worker needs to know about one target.
type Target struct {
	// Name is the target's name, the last token of its job subject.
	Name string
	// Endpoints are base URLs; the first is the primary.
	Endpoints []string
	// Headers are sent with every call (and redacted everywhere else).
	Headers map[string]string
	// Concurrency is the number of calls in flight at once (default 32).
	Concurrency int
	Timeouts    Timeouts
	Retry       RetryPolicy
	Breaker     BreakerPolicy
	// Fallback is the preset response while the breaker is open; nil means
	// 503 with no body.
	Fallback *FallbackResponse
	// RateLimit, when set, is enforced before every call.
	RateLimit *RateLimit
	// LimitScope says whom Concurrency and RateLimit are for: one instance
	// (LimitScopeInstance, the default) or the whole fleet
	// (LimitScopeFleet: each instance takes its share; see SetFleetSize).
	LimitScope string
	// AllowPrivate lets this target's endpoints through the SSRF guard
	// (both the pre-DNS host check and the dialer hook); other targets stay
	// guarded.
	AllowPrivate bool
	// AllowNetworks lets the addresses of these networks through the SSRF
	// guard, cloud metadata addresses included (which AllowPrivate and
	// Security.AllowPrivateNetworks do not admit); see NetPolicy.
	AllowNetworks []netip.Prefix
	// Signing, when set, signs every call with the Standard Webhooks scheme.
	Signing *Signing
}

// Signing holds the secrets of a target's request signing: one or more
// "whsec_<base64>" secrets, each producing one "v1,<sig>" entry of the
// webhook-signature header (several during a rotation).
type Signing struct {
	Secrets []string
}

// String keeps the secrets out of logs and error messages.
func (s Signing) String() string { return "worker.Signing([REDACTED])" }

// GoString keeps the secrets out of %#v.
func (s Signing) GoString() string { return s.String() }

// Security holds the service-wide guards. Zero MaxJobBytes and
// MaxResponseBytes take the defaults 1 MiB and 64 KiB.
type Security struct {
	// AllowPrivateNetworks turns the SSRF guard off.
	AllowPrivateNetworks bool
	MaxJobBytes          int
	MaxResponseBytes     int
	// RedactHeaders are extra header names whose values never leave the
	// process except towards the target.
	RedactHeaders []string
	// ReplyToAllow are subject patterns a job's reply_to may name even in
	// the service's own namespaces (see ReplyPolicy).
	ReplyToAllow []string
	// StateKeys are the keys of the retry state's MAC (statemac.go); none:
	// the service keeps a key of its own for the fleet.
	StateKeys Secrets
}

// Secrets are secret strings: never printed.
type Secrets []string

// String keeps the secrets out of logs and error messages.
func (s Secrets) String() string { return fmt.Sprintf("[%d secrets]", len(s)) }

// GoString keeps the secrets out of %#v.
func (s Secrets) GoString() string { return s.String() }

// Defaults of the zero values above.
const (
	DefaultConcurrency      = 32
	DefaultMaxJobBytes      = 1 << 20
	DefaultMaxResponseBytes = 64 << 10
	// DefaultRetryBudgetRatio is RetryPolicy.BudgetRatio's default.
	DefaultRetryBudgetRatio = 0.2
)

// DefaultRetryOnStatus are the statuses retried when RetryOnStatus is empty.
var DefaultRetryOnStatus = []int{408, 425, 429, 500, 502, 503, 504}

// DefaultTarget returns every per-target setting at its documented
// default: the one source of them. A zero field of a Target takes the value
// it has here (withDefaults), and the config file's defaults section starts
// from it. Randomization is the exception: the file's default is 0.2, a
// zero in a Target built in Go means no jitter.
func DefaultTarget() Target {
	return Target{
		Concurrency: DefaultConcurrency,
		LimitScope:  LimitScopeInstance,
		Timeouts: Timeouts{
			Connect:        3 * time.Second,
			TLS:            3 * time.Second,
			ResponseHeader: 10 * time.Second,
			Total:          30 * time.Second,
		},
		Retry: RetryPolicy{
			MaxAttempts:     5,
			InitialInterval: time.Second,
			Multiplier:      2,
			MaxInterval:     60 * time.Second,
			Randomization:   0.2,
			MaxElapsed:      time.Hour,
			RetryOnStatus:   slices.Clone(DefaultRetryOnStatus),
			MaxRetryAfter:   5 * time.Minute,
			BudgetRatio:     DefaultRetryBudgetRatio,
			AfterSend:       schemas.AfterSendRetry,
		},
		Breaker: BreakerPolicy{
			ConsecutiveFailures: 5,
			FailureRatio:        0.5,
			MinRequests:         20,
			Window:              60 * time.Second,
			OpenTimeout:         30 * time.Second,
			HalfOpenRequests:    1,
			WhenOpen:            WhenOpenFallback,
		},
	}
}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTarget().Timeouts
	t.Connect = orDuration(t.Connect, d.Connect)
	t.TLS = orDuration(t.TLS, d.TLS)
	t.ResponseHeader = orDuration(t.ResponseHeader, d.ResponseHeader)
	t.Total = orDuration(t.Total, d.Total)
	return t
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultTarget().Retry
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = d.MaxAttempts
	}
	r.InitialInterval = orDuration(r.InitialInterval, d.InitialInterval)
	if r.Multiplier < 1 {
		r.Multiplier = d.Multiplier
	}
	r.MaxInterval = orDuration(r.MaxInterval, d.MaxInterval)
	r.MaxElapsed = orDuration(r.MaxElapsed, d.MaxElapsed)
	if len(r.RetryOnStatus) == 0 {
		r.RetryOnStatus = d.RetryOnStatus
	}
	r.MaxRetryAfter = orDuration(r.MaxRetryAfter, d.MaxRetryAfter)
	if r.BudgetRatio <= 0 {
		r.BudgetRatio = d.BudgetRatio
	}
	if r.AfterSend == "" {
		r.AfterSend = d.AfterSend
	}
	return r
}

func (b BreakerPolicy) withDefaults() BreakerPolicy {
	d := DefaultTarget().Breaker
	if b.ConsecutiveFailures <= 0 {
		b.ConsecutiveFailures = d.ConsecutiveFailures
	}
	if b.FailureRatio <= 0 {
		b.FailureRatio = d.FailureRatio
	}
	if b.MinRequests <= 0 {
		b.MinRequests = d.MinRequests
	}
	b.Window = orDuration(b.Window, d.Window)
	b.OpenTimeout = orDuration(b.OpenTimeout, d.OpenTimeout)
	if b.HalfOpenRequests <= 0 {
		b.HalfOpenRequests = d.HalfOpenRequests
	}
	if b.WhenOpen == "" {
		b.WhenOpen = d.WhenOpen
	}
	return b
}

func (t Target) withDefaults() Target {
	if t.Concurrency <= 0 {
		t.Concurrency = DefaultConcurrency
	}
	t.Timeouts = t.Timeouts.withDefaults()
	t.Retry = t.Retry.withDefaults()
	t.Breaker = t.Breaker.withDefaults()
	if t.LimitScope == "" {
		t.LimitScope = LimitScopeInstance
	}
	return t
}

func (s Security) withDefaults() Security {
	if s.MaxJobBytes <= 0 {
		s.MaxJobBytes = DefaultMaxJobBytes
	}
	if s.MaxResponseBytes <= 0 {
		s.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
