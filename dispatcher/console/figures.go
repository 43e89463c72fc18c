package console

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// Figures keep, in process, what the console shows of each target beyond
// its live state: counters of attempts and outcomes and a histogram of
// attempt durations (fed by the workers, as a worker.Observer), snapshots
// of them taken at every backlog sample (rates over the last minute come
// from the difference), the backlog's last 15 minutes (the sparkline), the
// latest verdicts, and the last breaker transitions and failures. A page
// reads them without touching NATS.

// FigureSettings tune Figures; the zero value means the documented
// defaults.
type FigureSettings struct {
	// SampleEvery is how often the backlog is sampled for the sparkline
	// and the counters snapshotted: 10s when 0.
	SampleEvery time.Duration
	// Span is how far back the sparkline reaches: 15 minutes when 0.
	Span time.Duration
	// RateWindow is what rates are computed over: 1 minute when 0.
	RateWindow time.Duration
}

func (s FigureSettings) withDefaults() FigureSettings {
	if s.SampleEvery <= 0 {
		s.SampleEvery = 10 * time.Second
	}
	if s.Span <= 0 {
		s.Span = 15 * time.Minute
	}
	if s.RateWindow <= 0 {
		s.RateWindow = time.Minute
	}
	return s
}

// latencyBounds are the upper bounds, in milliseconds, of the attempt
// duration histogram's buckets; a last bucket holds the rest.
var latencyBounds = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000}

const nBuckets = 16 // len(latencyBounds)+1

// keepEvents is how many breaker transitions and failures are kept per
// target.
const keepEvents = 50

// Figures is the console's in-process record; see above. It is safe for
// concurrent use; its Observer methods are cheap (atomic adds, a lock on
// failures and transitions only).
type Figures struct {
	set     FigureSettings
	now     func() time.Time
	targets sync.Map // name -> *targetFigures

	mu       sync.Mutex
	last     time.Time // the last sample
	backlog  map[string][]Point
	verdicts map[string]Verdict
}

var _ worker.Observer = (*Figures)(nil)

// NewFigures returns empty Figures.
func NewFigures(set FigureSettings) *Figures {
	return &Figures{set: set.withDefaults(), now: time.Now, backlog: map[string][]Point{}, verdicts: map[string]Verdict{}}
}

// Point is one sample of a series.
type Point struct {
	At    time.Time
	Value float64
}

// Verdict is a target's health as this instance judged it last.
type Verdict struct {
	State, Cause string
	Since, Until time.Time
	// Backlog is the jobs stored at the last poll; Rate the outcomes per
	// second over the health window; ETA the time to work the backlog off
	// at Rate (negative: never).
	Backlog uint64
	Rate    float64
	ETA     time.Duration
}

// BreakerEvent is a breaker's change of state.
type BreakerEvent struct {
	At       time.Time
	Endpoint string
	From, To string
}

// Failure is one failed attempt.
type Failure struct {
	At       time.Time
	Endpoint string
	Status   int
	Class    string
	Took     time.Duration
}

// counts are a target's cumulative counters.
type counts struct {
	attempts, failed, outcomes, delivered, deadLetters, fallbacks, retries, parks uint64
	latency                                                                       [nBuckets]uint64
}

// snap is counts at a time.
type snap struct {
	at time.Time
	c  counts
}

type targetFigures struct {
	attempts, failed, outcomes, delivered, deadLetters, fallbacks, retries, parks atomic.Uint64
	latency                                                                       [nBuckets]atomic.Uint64

	mu          sync.Mutex
	classes     map[string]uint64 // failed attempts by class, since start
	failures    []Failure         // the last keepEvents, oldest first
	transitions []BreakerEvent    // the last keepEvents, oldest first
	snaps       []snap            // under Figures.mu: the last RateWindow and one more
}

func (f *Figures) target(name string) *targetFigures {
	if t, ok := f.targets.Load(name); ok {
		return t.(*targetFigures)
	}
	// Rates are measured from the target's first event until its first
	// snapshot: a snapshot of nothing, now.
	fresh := &targetFigures{classes: map[string]uint64{}, snaps: []snap{{at: f.now()}}}
	t, loaded := f.targets.LoadOrStore(name, fresh)
	if !loaded {
		return fresh
	}
	return t.(*targetFigures)
}

func (t *targetFigures) load() counts {
	c := counts{attempts: t.attempts.Load(), failed: t.failed.Load(), outcomes: t.outcomes.Load(), delivered: t.delivered.Load(),
		deadLetters: t.deadLetters.Load(), fallbacks: t.fallbacks.Load(), retries: t.retries.Load(), parks: t.parks.Load()}
	for i := range c.latency {
		c.latency[i] = t.latency[i].Load()
	}
	return c
}

// AttemptStarted implements worker.Observer (nothing to count).
func (f *Figures) AttemptStarted(string, string) {}

// AttemptDone implements worker.Observer: an attempt, its duration, and a
// failure when class is set.
func (f *Figures) AttemptDone(target, endpoint string, status int, class string, took time.Duration) {
	t := f.target(target)
	t.attempts.Add(1)
	ms := float64(took) / float64(time.Millisecond)
	i := sort.SearchFloat64s(latencyBounds, ms)
	t.latency[i].Add(1)
	if class == "" {
		return
	}
	t.failed.Add(1)
	t.mu.Lock()
	t.classes[class]++
	t.failures = appendCapped(t.failures, Failure{At: f.now(), Endpoint: endpoint, Status: status, Class: class, Took: took})
	t.mu.Unlock()
}

// JobEnded implements worker.Observer.
func (f *Figures) JobEnded(target, outcome, _ string) {
	t := f.target(target)
	t.outcomes.Add(1)
	switch outcome {
	case schemas.OutcomeDelivered:
		t.delivered.Add(1)
	case schemas.OutcomeDeadLettered:
		t.deadLetters.Add(1)
	case schemas.OutcomeFallback:
		t.fallbacks.Add(1)
	}
}

// RetryScheduled implements worker.Observer.
func (f *Figures) RetryScheduled(target, _ string, _ time.Duration) { f.target(target).retries.Add(1) }

// Parked implements worker.Observer.
func (f *Figures) Parked(target, _ string) { f.target(target).parks.Add(1) }

// PauseChanged implements worker.Observer (the live state says it).
func (f *Figures) PauseChanged(string, bool) {}

// BreakerChanged implements worker.Observer: the transition is kept.
func (f *Figures) BreakerChanged(target, endpoint string, from, to schemas.BreakerState) {
	t := f.target(target)
	t.mu.Lock()
	t.transitions = appendCapped(t.transitions, BreakerEvent{At: f.now(), Endpoint: endpoint, From: from.String(), To: to.String()})
	t.mu.Unlock()
}

// EndpointSwitched implements worker.Observer (nothing kept).
func (f *Figures) EndpointSwitched(string, string, string) {}

// RecordTooLarge implements worker.Observer (nothing kept).
func (f *Figures) RecordTooLarge(string, string) {}

func appendCapped[T any](s []T, v T) []T {
	if len(s) >= keepEvents {
		s = append(s[:0], s[len(s)-keepEvents+1:]...)
	}
	return append(s, v)
}

// ObserveBacklog takes a backlog reading (targets with jobs stored; the
// others have none) made at at. Every SampleEvery a reading becomes a point
// of the sparklines and the counters are snapshotted; a reading between
// two such samples is the sparklines' last, live, point, which the next
// reading replaces.
func (f *Figures) ObserveBacklog(pending map[string]uint64, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fixed := f.last.IsZero() || at.Sub(f.last) >= f.set.SampleEvery
	from := at.Add(-f.set.Span)
	put := func(name string, v float64) {
		pts := f.backlog[name]
		p := Point{At: at, Value: v}
		if n := len(pts); n > 0 && !f.last.IsZero() && pts[n-1].At.After(f.last) { // the live point
			pts[n-1] = p
		} else {
			pts = append(pts, p)
		}
		pts = trimPoints(pts, from)
		if allZero(pts) && !pts[0].At.After(from.Add(f.set.SampleEvery)) {
			delete(f.backlog, name) // nothing stored for a whole span
			return
		}
		f.backlog[name] = pts
	}
	for name := range f.backlog {
		if _, ok := pending[name]; !ok {
			put(name, 0)
		}
	}
	for name, n := range pending {
		put(name, float64(n))
	}
	if !fixed {
		return
	}
	f.last = at
	keep := at.Add(-f.set.RateWindow - f.set.SampleEvery)
	f.targets.Range(func(_, v any) bool {
		t := v.(*targetFigures)
		t.snaps = append(t.snaps, snap{at: at, c: t.load()})
		i := 0
		for i < len(t.snaps)-2 && t.snaps[i+1].at.Before(keep) {
			i++
		}
		t.snaps = t.snaps[i:]
		return true
	})
}

func trimPoints(pts []Point, from time.Time) []Point {
	i := 0
	for i < len(pts) && pts[i].At.Before(from) {
		i++
	}
	return pts[i:]
}

func allZero(pts []Point) bool {
	for _, p := range pts {
		if p.Value != 0 {
			return false
		}
	}
	return true
}

// ObserveVerdicts replaces the verdicts with those of the last judgement.
func (f *Figures) ObserveVerdicts(vs map[string]Verdict) {
	f.mu.Lock()
	f.verdicts = vs
	f.mu.Unlock()
}

// Rates are a target's figures over the rate window (or what of it has
// passed since the service started).
type Rates struct {
	// Over is the time they were measured over; zero when not yet known.
	Over time.Duration
	// PerSecond is outcomes per second; Success the share of them
	// delivered (NaN-free: -1 when there was none).
	PerSecond float64
	Success   float64
	// P50 and P99 are attempt durations (-1 when there was no attempt).
	P50, P99 time.Duration
	// Per minute: attempts, failed attempts, retries, dead letters,
	// fallbacks and parks.
	AttemptsPerMin, FailedPerMin, RetriesPerMin, DeadLettersPerMin, FallbacksPerMin, ParksPerMin float64
}

// TargetFigures is what the Figures hold of one target.
type TargetFigures struct {
	Rates    Rates
	Backlog  []Point
	Verdict  Verdict
	Verdicts bool // a verdict is known
	// Classes counts failed attempts by class since the service started.
	Classes     map[string]uint64
	Failures    []Failure
	Transitions []BreakerEvent
}

// Target returns the figures of name at now; withEvents adds the classes,
// failures and transitions (the target page).
func (f *Figures) Target(name string, withEvents bool) TargetFigures {
	now := f.now()
	var out TargetFigures
	f.mu.Lock()
	out.Backlog = slices.Clone(f.backlog[name])
	out.Verdict, out.Verdicts = f.verdicts[name]
	v, ok := f.targets.Load(name)
	var base snap
	if ok {
		t := v.(*targetFigures)
		base = baseSnap(t.snaps, now.Add(-f.set.RateWindow))
	}
	f.mu.Unlock()
	if !ok {
		out.Rates = Rates{Success: -1, P50: -1, P99: -1}
		return out
	}
	t := v.(*targetFigures)
	out.Rates = rates(base, snap{at: now, c: t.load()})
	if withEvents {
		t.mu.Lock()
		out.Classes = make(map[string]uint64, len(t.classes))
		for k, n := range t.classes {
			out.Classes[k] = n
		}
		out.Failures = slices.Clone(t.failures)
		out.Transitions = slices.Clone(t.transitions)
		t.mu.Unlock()
	}
	return out
}

// baseSnap is the snapshot rates are measured from: the newest taken at
// or before from, else the oldest.
func baseSnap(snaps []snap, from time.Time) snap {
	var b snap
	for _, s := range snaps {
		if b.at.IsZero() || !s.at.After(from) {
			b = s
		}
	}
	return b
}

// rates are the figures between two snapshots.
func rates(a, b snap) Rates {
	r := Rates{Success: -1, P50: -1, P99: -1}
	if a.at.IsZero() || !b.at.After(a.at) {
		return r
	}
	r.Over = b.at.Sub(a.at)
	sec := r.Over.Seconds()
	per := func(x, y uint64) float64 { return float64(y-x) / sec * 60 }
	out := b.c.outcomes - a.c.outcomes
	r.PerSecond = float64(out) / sec
	if out > 0 {
		r.Success = float64(b.c.delivered-a.c.delivered) / float64(out)
	}
	r.AttemptsPerMin = per(a.c.attempts, b.c.attempts)
	r.FailedPerMin = per(a.c.failed, b.c.failed)
	r.RetriesPerMin = per(a.c.retries, b.c.retries)
	r.DeadLettersPerMin = per(a.c.deadLetters, b.c.deadLetters)
	r.FallbacksPerMin = per(a.c.fallbacks, b.c.fallbacks)
	r.ParksPerMin = per(a.c.parks, b.c.parks)
	var h [nBuckets]uint64
	var n uint64
	for i := range h {
		h[i] = b.c.latency[i] - a.c.latency[i]
		n += h[i]
	}
	if n > 0 {
		r.P50, r.P99 = quantile(h, n, 0.50), quantile(h, n, 0.99)
	}
	return r
}

// quantile estimates the q-quantile of a histogram of n values,
// interpolating linearly inside the bucket it falls in.
func quantile(h [nBuckets]uint64, n uint64, q float64) time.Duration {
	rank := q * float64(n)
	var seen float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo := 0.0
			if i > 0 {
				lo = latencyBounds[i-1]
			}
			hi := lo * 2
			if i < len(latencyBounds) {
				hi = latencyBounds[i]
			}
			ms := lo + (hi-lo)*(rank-seen)/float64(c)
			return time.Duration(ms * float64(time.Millisecond))
		}
		seen += float64(c)
	}
	return time.Duration(latencyBounds[len(latencyBounds)-1] * float64(time.Millisecond))
}
