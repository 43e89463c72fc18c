package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// Namespace prefixes every series of the service.
const Namespace = "dispatcher"

// Outcomes and dead-letter reasons of the contract; their series exist (at
// zero) as soon as a target is first seen, so rate() and increase() work from
// the first job on.
var (
	outcomes = schemas.Outcomes
	reasons  = schemas.Reasons
)

// Breaker state values of dispatcher_breaker_state.
const (
	breakerClosed   = 0
	breakerHalfOpen = 1
	breakerOpen     = 2
)

// DurationBuckets are the buckets of dispatcher_attempt_duration_seconds.
var DurationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

var _ worker.Observer = (*Metrics)(nil)

// Metrics is the service's set of Prometheus series, on a registry of its
// own. It implements worker.Observer; every method is safe for concurrent
// use, and target-scoped series are created lazily on a target's first
// event, so targets added by a config reload are counted like the others.
type Metrics struct {
	reg *prometheus.Registry

	attempts      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	jobs          *prometheus.CounterVec
	retries       *prometheus.CounterVec
	parked        *prometheus.CounterVec
	paused        *prometheus.GaugeVec
	deadLetters   *prometheus.CounterVec
	fallbacks     *prometheus.CounterVec
	breakerState  *prometheus.GaugeVec
	breakerTrans  *prometheus.CounterVec
	inFlight      *prometheus.GaugeVec
	switches      *prometheus.CounterVec
	tooLarge      *prometheus.CounterVec
	pending       *prometheus.GaugeVec
	oldestPending *prometheus.GaugeVec
	partPending   *prometheus.GaugeVec
	partAck       *prometheus.GaugeVec
	partRedeliv   *prometheus.GaugeVec
	partWaiting   *prometheus.GaugeVec
	lagErrors     prometheus.Counter
	reloadOK      prometheus.Counter
	reloadErr     prometheus.Counter
	fleetSize     prometheus.Gauge
	fleetOpen     *prometheus.GaugeVec
	limitConc     *prometheus.GaugeVec
	limitRate     *prometheus.GaugeVec
	health        *prometheus.GaugeVec

	targets sync.Map // target name -> *targetSeries
	mu      sync.Mutex
	// Under mu: the limits of every target told (SetLimits), series or
	// not; the targets with backlog series; the partition series.
	limits     map[string]limits
	backlogged map[string]bool
	partLabels map[[2]string]bool
	// healthOf is the state each target's health series shows now.
	healthOf map[string]string
}

// limits are the values of a target's limit gauges.
type limits struct {
	concurrency int
	perSecond   float64
}

// BuildInfo labels dispatcher_build_info.
type BuildInfo struct {
	// Version and Commit of the binary; empty means "unknown".
	Version, Commit string
}

// New returns a Metrics with its own registry, holding the Go runtime and
// process collectors, and dispatcher_build_info set from bi.
func New(bi BuildInfo) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), limits: map[string]limits{}, backlogged: map[string]bool{}, partLabels: map[[2]string]bool{},
		healthOf: map[string]string{}}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.attempts = m.counterVec("attempts_total",
		"HTTP call attempts by target and status class (2xx, 3xx, 4xx, 429, 5xx, or the error class of a call without a response, e.g. timeout_total).",
		"target", "status_class")
	m.duration = register(m, prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "attempt_duration_seconds",
		Help: "Duration of HTTP call attempts by target and status class.", Buckets: DurationBuckets},
		[]string{"target", "status_class"}))
	m.jobs = m.counterVec("jobs_total", "Jobs that reached an outcome (delivered, dead_lettered, fallback) by target.",
		"target", "outcome")
	m.retries = m.counterVec("retries_total", "Retries scheduled by target and the error class of the failure.",
		"target", "error_class")
	m.parked = m.counterVec("parked_total", "Jobs scheduled back for later without an attempt, by target and why ("+
		strings.Join(schemas.ParkReasons, ", ")+").", "target", "reason")
	m.paused = m.gaugeVec("target_paused",
		"1 while the target is paused (dispatcher pause) on this instance, 0 once resumed; absent for a target never paused.", "target")
	m.deadLetters = m.counterVec("dead_letters_total",
		"Jobs dead-lettered by target and reason (exhausted, non_retryable, invalid, expired, unknown_target).",
		"target", "reason")
	m.fallbacks = m.counterVec("fallbacks_total", "Jobs sent to fallback (every endpoint's breaker open) by target.",
		"target")
	m.breakerState = m.gaugeVec("breaker_state",
		"Circuit breaker state by target and endpoint: 0 closed, 1 half_open, 2 open.",
		"target", "endpoint")
	m.breakerTrans = m.counterVec("breaker_transitions_total",
		"Circuit breaker state changes by target, endpoint and new state (closed, half_open, open).",
		"target", "endpoint", "to")
	m.inFlight = m.gaugeVec("in_flight", "HTTP calls in flight by target.", "target")
	m.switches = m.counterVec("endpoint_switches_total",
		"Moves of a target's calls from one endpoint to another (failover and back), by target and the endpoint moved to.",
		"target", "to")
	m.tooLarge = m.counterVec("records_too_large_total",
		"Jobs ended without their record because the server refuses it for its size even cut to its minimum, by target and record (dead_letter, fallback).",
		"target", "record")
	m.pending = m.gaugeVec("target_pending",
		"Jobs and fired copies of the target stored in the streams, waiting for delivery or in flight; only while above 0 (polled from JetStream).", "target")
	m.oldestPending = m.gaugeVec("target_oldest_pending_seconds",
		"Age of the oldest job counted in dispatcher_target_pending; only while that is above 0 (polled from JetStream).", "target")
	m.partPending = m.gaugeVec("partition_pending",
		"Messages of the partition not yet delivered to its consumer, by partition and kind (jobs, due) (polled from JetStream).",
		"partition", "kind")
	m.partAck = m.gaugeVec("partition_ack_pending",
		"Messages delivered by the partition's consumer and awaiting their ack (polled from JetStream).", "partition", "kind")
	m.partRedeliv = m.gaugeVec("partition_redelivered",
		"Messages awaiting their ack that the partition's consumer delivered more than once (polled from JetStream).", "partition", "kind")
	m.partWaiting = m.gaugeVec("partition_waiting_pulls",
		"Pull requests of instances waiting on the partition's consumer (polled from JetStream).", "partition", "kind")
	m.lagErrors = register(m, prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "lag_poll_errors_total",
		Help: "Failed reads of the backlog from JetStream."}))
	reloads := m.counterVec("config_reloads_total", "Config reloads by result (ok, error).", "result")
	m.reloadOK, m.reloadErr = reloads.WithLabelValues("ok"), reloads.WithLabelValues("error")
	m.fleetSize = register(m, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "fleet_instances",
		Help: "Live instances of the fleet (same subject prefix), this one included, as heard through NATS."}))
	m.fleetOpen = m.gaugeVec("fleet_breaker_open",
		"1 while some instance of the fleet holds the endpoint's breaker open (or probing), else 0.",
		"target", "endpoint")
	m.limitConc = m.gaugeVec("limit_concurrency",
		"Calls this instance lets be in flight for the target: its concurrency, or its quota of the fleet's.", "target")
	m.limitRate = m.gaugeVec("limit_rate_per_second",
		"Calls per second this instance allows the target (its quota of the fleet's with limit_scope fleet); 0: no rate limit.",
		"target")
	m.health = m.gaugeVec("target_health",
		"1 for the target's current health state (OK, GROWING, STALLED, OPEN, HELD, PAUSED, STOPPED) as this instance judges it; the other states have no series.",
		"target", "state")
	m.gaugeVec("build_info", "Always 1; labels say the version, commit and Go version of the binary.",
		"version", "commit", "goversion").
		WithLabelValues(orUnknown(bi.Version), orUnknown(bi.Commit), runtime.Version()).Set(1)
	return m
}

// register registers c in m's registry and returns it.
func register[C prometheus.Collector](m *Metrics, c C) C {
	m.reg.MustRegister(c)
	return c
}

// counterVec registers the counter vector dispatcher_<name>.
func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return register(m, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels))
}

// gaugeVec registers the gauge vector dispatcher_<name>.
func (m *Metrics) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return register(m, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Registry is the registry holding every series of m.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves m's registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// Reload counts one config reload: ok true when the new config applied,
// false when it was refused.
func (m *Metrics) Reload(ok bool) {
	if ok {
		m.reloadOK.Inc()
	} else {
		m.reloadErr.Inc()
	}
}

// targetSeries caches the label children of one target, so the hot path
// never hashes label values.
type targetSeries struct {
	m        *Metrics
	name     string
	inFlight prometheus.Gauge
	outcome  map[string]prometheus.Counter // read-only after creation
	reason   map[string]prometheus.Counter // read-only after creation
	fallback prometheus.Counter

	attempts  sync.Map // status class -> *attemptSeries
	retries   sync.Map // error class -> prometheus.Counter
	endpoints sync.Map // endpoint -> prometheus.Gauge (breaker state)
	mu        sync.Mutex
}

type attemptSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// Target creates the series of target name (at zero) unless they exist,
// and returns nothing: call it to make a target visible before its first
// job. Every Observer method does the same lazily.
func (m *Metrics) Target(name string, endpoints ...string) {
	ts := m.target(name)
	for _, e := range endpoints {
		ts.endpoint(e)
	}
}

func (m *Metrics) target(name string) *targetSeries {
	if v, ok := m.targets.Load(name); ok {
		return v.(*targetSeries)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.targets.Load(name); ok {
		return v.(*targetSeries)
	}
	ts := &targetSeries{
		m: m, name: name,
		inFlight: m.inFlight.WithLabelValues(name),
		outcome:  make(map[string]prometheus.Counter, len(outcomes)),
		reason:   make(map[string]prometheus.Counter, len(reasons)),
		fallback: m.fallbacks.WithLabelValues(name),
	}
	for _, o := range outcomes {
		ts.outcome[o] = m.jobs.WithLabelValues(name, o)
	}
	for _, r := range reasons {
		ts.reason[r] = m.deadLetters.WithLabelValues(name, r)
	}
	if l, ok := m.limits[name]; ok {
		m.setLimits(name, l)
	}
	m.targets.Store(name, ts)
	return ts
}

func (ts *targetSeries) attempt(class string) *attemptSeries {
	if v, ok := ts.attempts.Load(class); ok {
		return v.(*attemptSeries)
	}
	a := &attemptSeries{
		count:    ts.m.attempts.WithLabelValues(ts.name, class),
		duration: ts.m.duration.WithLabelValues(ts.name, class),
	}
	v, _ := ts.attempts.LoadOrStore(class, a)
	return v.(*attemptSeries)
}

// endpoint returns the breaker state gauge of endpoint, created at 0
// (closed) the first time only.
func (ts *targetSeries) endpoint(endpoint string) prometheus.Gauge {
	if v, ok := ts.endpoints.Load(endpoint); ok {
		return v.(prometheus.Gauge)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if v, ok := ts.endpoints.Load(endpoint); ok {
		return v.(prometheus.Gauge)
	}
	g := ts.m.breakerState.WithLabelValues(ts.name, endpoint)
	g.Set(breakerClosed)
	ts.endpoints.Store(endpoint, g)
	return g
}

// statusClass is the status_class label of an attempt: the status's
// hundred (429 on its own), or the error class of a call without a response.
func statusClass(status int, class string) string {
	switch {
	case status == 0:
		if class == "" {
			return "error"
		}
		return class
	case status == 429:
		return "429"
	case status < 200:
		return "1xx"
	case status < 300:
		return "2xx"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	case status < 600:
		return "5xx"
	}
	return "other"
}

// AttemptStarted counts a call in flight.
func (m *Metrics) AttemptStarted(target, endpoint string) {
	ts := m.target(target)
	ts.endpoint(endpoint)
	ts.inFlight.Inc()
}

// AttemptDone counts the attempt and its duration, and a call less in flight.
func (m *Metrics) AttemptDone(target, _ string, status int, class string, took time.Duration) {
	ts := m.target(target)
	ts.inFlight.Dec()
	a := ts.attempt(statusClass(status, class))
	a.count.Inc()
	a.duration.Observe(took.Seconds())
}

// JobEnded counts a job's outcome, and its dead letter or fallback.
func (m *Metrics) JobEnded(target, outcome, reason string) {
	ts := m.target(target)
	if c, ok := ts.outcome[outcome]; ok {
		c.Inc()
	} else {
		m.jobs.WithLabelValues(target, outcome).Inc()
	}
	switch outcome {
	case "dead_lettered":
		if c, ok := ts.reason[reason]; ok {
			c.Inc()
		} else {
			m.deadLetters.WithLabelValues(target, reason).Inc()
		}
	case "fallback":
		ts.fallback.Inc()
	}
}

// RetryScheduled counts a retry by the failure's class.
func (m *Metrics) RetryScheduled(target, class string, _ time.Duration) {
	ts := m.target(target)
	if v, ok := ts.retries.Load(class); ok {
		v.(prometheus.Counter).Inc()
		return
	}
	v, _ := ts.retries.LoadOrStore(class, m.retries.WithLabelValues(target, class))
	v.(prometheus.Counter).Inc()
}

// Parked counts a job scheduled back without an attempt.
func (m *Metrics) Parked(target, reason string) {
	m.target(target)
	m.parked.WithLabelValues(target, reason).Inc()
}

// PauseChanged sets the target's paused gauge.
func (m *Metrics) PauseChanged(target string, paused bool) {
	m.target(target)
	v := 0.0
	if paused {
		v = 1
	}
	m.paused.WithLabelValues(target).Set(v)
}

// BreakerChanged sets the endpoint's breaker state and counts the change.
func (m *Metrics) BreakerChanged(target, endpoint string, _, to schemas.BreakerState) {
	ts := m.target(target)
	g := ts.endpoint(endpoint)
	switch to {
	case schemas.BreakerOpen:
		g.Set(breakerOpen)
	case schemas.BreakerHalfOpen:
		g.Set(breakerHalfOpen)
	default:
		g.Set(breakerClosed)
	}
	m.breakerTrans.WithLabelValues(target, endpoint, to.String()).Inc()
}

// EndpointSwitched counts a move of the target's calls to endpoint to.
func (m *Metrics) EndpointSwitched(target, _, to string) {
	m.target(target)
	m.switches.WithLabelValues(target, to).Inc()
}

// RecordTooLarge counts a job ended without its record, refused for its
// size.
func (m *Metrics) RecordTooLarge(target, record string) {
	m.target(target)
	m.tooLarge.WithLabelValues(target, record).Inc()
}

// Kinds of partition consumer: the kind label of the partition gauges.
const (
	// KindJobs is the consumer of a partition's jobs (jobs stream).
	KindJobs = "jobs"
	// KindDue is the consumer of a partition's fired copies (scheduling
	// stream).
	KindDue = "due"
)

// Backlog is a reading of the backlog, as the Poller's source makes it.
type Backlog struct {
	// Targets are the targets with a backlog; a target absent, or with
	// Pending 0, has none.
	Targets []TargetBacklog
	// Partitions are the partitions' consumers.
	Partitions []ConsumerBacklog
}

// TargetBacklog is the backlog of one target: its jobs and fired copies
// stored in the streams (waiting or in flight), and the age of the oldest.
type TargetBacklog struct {
	Target               string
	Pending              uint64
	OldestPendingSeconds float64
}

// ConsumerBacklog is the state of one partition's consumer of one kind
// (KindJobs, KindDue).
type ConsumerBacklog struct {
	Partition    int
	Kind         string
	Pending      uint64
	AckPending   int
	Redelivered  int
	WaitingPulls int
}

// SetBacklog sets the backlog gauges from a complete reading. A target has
// backlog series only while its backlog is above 0: they are created when
// it appears and deleted when it is gone, so idle targets cost none. The
// partitions' series are set for every consumer of the reading, at 0 too,
// and deleted for a consumer it no longer has.
func (m *Metrics) SetBacklog(b Backlog) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]bool, len(b.Targets))
	for _, t := range b.Targets {
		if t.Pending == 0 {
			continue
		}
		seen[t.Target] = true
		m.pending.WithLabelValues(t.Target).Set(float64(t.Pending))
		m.oldestPending.WithLabelValues(t.Target).Set(t.OldestPendingSeconds)
	}
	for t := range m.backlogged {
		if !seen[t] {
			m.pending.DeleteLabelValues(t)
			m.oldestPending.DeleteLabelValues(t)
		}
	}
	m.backlogged = seen
	parts := make(map[[2]string]bool, len(b.Partitions))
	for _, c := range b.Partitions {
		k := strconv.Itoa(c.Partition)
		parts[[2]string{k, c.Kind}] = true
		m.partPending.WithLabelValues(k, c.Kind).Set(float64(c.Pending))
		m.partAck.WithLabelValues(k, c.Kind).Set(float64(c.AckPending))
		m.partRedeliv.WithLabelValues(k, c.Kind).Set(float64(c.Redelivered))
		m.partWaiting.WithLabelValues(k, c.Kind).Set(float64(c.WaitingPulls))
	}
	for l := range m.partLabels {
		if !parts[l] {
			for _, g := range []*prometheus.GaugeVec{m.partPending, m.partAck, m.partRedeliv, m.partWaiting} {
				g.DeleteLabelValues(l[0], l[1])
			}
		}
	}
	m.partLabels = parts
}

// FleetBreaker is the fleet-wide state of one endpoint's breaker.
type FleetBreaker struct {
	Target, Endpoint string
	Open             bool
}

// SetFleet sets the fleet view: the live instance count and, for every
// endpoint the fleet has heard of, whether some instance holds it open.
func (m *Metrics) SetFleet(instances int, breakers []FleetBreaker) {
	m.fleetSize.Set(float64(instances))
	for _, b := range breakers {
		v := 0.0
		if b.Open {
			v = 1
		}
		m.fleetOpen.WithLabelValues(b.Target, b.Endpoint).Set(v)
	}
}

// SetLimits tells the concurrency and rate (0: none) this instance applies
// to target now. Its limit gauges show them from the target's first event
// on (when its other series are created): an idle target has none.
func (m *Metrics) SetLimits(target string, concurrency int, perSecond float64) {
	l := limits{concurrency, perSecond}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.limits[target] = l
	if _, ok := m.targets.Load(target); ok {
		m.setLimits(target, l)
	}
}

// setLimits sets target's limit gauges; m.mu held.
func (m *Metrics) setLimits(target string, l limits) {
	m.limitConc.WithLabelValues(target).Set(float64(l.concurrency))
	m.limitRate.WithLabelValues(target).Set(l.perSecond)
}

// HealthOK is the state of a target judged OK: an idle target in that state
// gets no series.
const HealthOK = "OK"

// SetHealth sets target's health series: dispatcher_target_health with
// the label state set to 1, the series of its former state deleted. A
// target without series of its own yet (no event, no backlog) gets none
// while its state is HealthOK: an idle target costs no series.
func (m *Metrics) SetHealth(target, state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, had := m.healthOf[target]
	if prev == state {
		return
	}
	if !had && state == HealthOK && !m.backlogged[target] {
		if _, ok := m.targets.Load(target); !ok {
			return
		}
	}
	if had {
		m.health.DeleteLabelValues(target, prev)
	}
	m.health.WithLabelValues(target, state).Set(1)
	m.healthOf[target] = state
}

// DeleteHealth deletes target's health series (a target no longer judged
// here: removed by a reload, or no longer STOPPED).
func (m *Metrics) DeleteHealth(target string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.healthOf[target]; ok {
		m.health.DeleteLabelValues(target, prev)
		delete(m.healthOf, target)
	}
}

// HealthTargets are the targets that have a health series.
func (m *Metrics) HealthTargets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.healthOf))
	for t := range m.healthOf {
		out = append(out, t)
	}
	return out
}
