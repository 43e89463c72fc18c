package dispatcher

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// Every backlog poll, the service samples each target it serves (the
// backlog just read, and its worker's Stats), judges it on the window of
// samples (dispatcher/verdict), sets dispatcher_target_health, and
// publishes the verdicts to the fleet (fleet_health.go). Targets with jobs
// stored that no live instance serves are judged STOPPED here too.

// Pauser tells whether an operator paused a target, until when and why.
// The pause feature implements it; without one no target is PAUSED.
type Pauser interface {
	Paused(target string) (until time.Time, why string, ok bool)
}

// verdicts is the service's judge. Its methods run on the backlog poller's
// goroutine only.
type verdicts struct {
	set    verdict.Settings
	m      *metrics.Metrics
	fleet  *fleetMember
	pauser Pauser // nil: nothing is paused
	// workers returns the workers of the targets served now.
	workers func() map[string]*worker.Worker

	tracks map[string]*track
	// unserved is the backlog of the targets of no worker here, read by
	// the last poll; stopped those judged STOPPED by the last one.
	unserved map[string]uint64
	stopped  map[string]bool
	// judged, when set, is told every served target's verdict after each
	// judgement (the console's figures).
	judged func(map[string]TargetVerdict)
}

// track is what the judge keeps of one target.
type track struct {
	w       *worker.Worker // sampled; a worker replaced by a reload starts afresh
	samples []verdict.Sample
	v       verdict.Verdict
	since   time.Time
}

func newVerdicts(window time.Duration, m *metrics.Metrics, fleet *fleetMember, workers func() map[string]*worker.Worker) *verdicts {
	return &verdicts{set: verdict.Settings{Window: window}, m: m, fleet: fleet, workers: workers,
		tracks: map[string]*track{}, unserved: map[string]uint64{}, stopped: map[string]bool{}}
}

// pollEvery is how often the backlog is read for a health window: a
// twelfth of it, at least 250ms and at most the gauges' 5s.
func pollEvery(window time.Duration) time.Duration {
	return min(max(window/12, 250*time.Millisecond), 5*time.Second)
}

// observe takes the samples of a backlog reading taken at now, judges
// every target served, and publishes.
func (vs *verdicts) observe(ctx context.Context, b metrics.Backlog, now time.Time) {
	backlog := make(map[string]uint64, len(b.Targets))
	for _, t := range b.Targets {
		backlog[t.Target] = t.Pending
	}
	workers := vs.workers()
	listed := make([]TargetVerdict, 0)
	var all map[string]TargetVerdict
	if vs.judged != nil {
		all = make(map[string]TargetVerdict, len(workers))
	}
	for name, w := range workers {
		tr := vs.tracks[name]
		if tr == nil || tr.w != w {
			tr = &track{w: w}
			vs.tracks[name] = tr
		}
		st := w.Stats()
		tr.add(verdict.Sample{
			At: now, Backlog: backlog[name], Outcomes: st.Outcomes, Deliveries: st.Deliveries, Redeliveries: st.Redeliveries,
			Retries: st.Retries, Parks: st.Parks, Calls: st.Calls, CallsDone: st.CallsDone, RateWaits: st.RateWaits,
			InFlight: st.InFlight, Buffered: st.Buffered,
		}, now.Add(-vs.set.WindowOrDefault()))
		v := verdict.Judge(vs.set, tr.samples, vs.facts(name, w, st), now)
		if v.State != tr.v.State || tr.since.IsZero() {
			tr.since = now
		}
		tr.v = v
		vs.m.SetHealth(name, v.State.String())
		tv := targetVerdict(name, v, tr.since)
		if !tv.idle() {
			listed = append(listed, tv)
		}
		if all != nil {
			if tv.idle() {
				tv.Cause = v.Cause
			}
			all[name] = tv
		}
	}
	for name := range vs.tracks {
		if workers[name] == nil {
			delete(vs.tracks, name)
			vs.m.DeleteHealth(name)
		}
	}
	vs.judgeUnserved(workers)
	if vs.judged != nil {
		vs.judged(all)
	}
	slices.SortFunc(listed, func(a, b TargetVerdict) int { return strings.Compare(a.Target, b.Target) })
	vs.fleet.putHealth(ctx, now, vs.set.WindowOrDefault(), len(workers), listed)
}

// add appends s, dropping the samples older than the window's base (the
// last taken at or before from). An idle target keeps two samples: a new
// one that says the same as the last two replaces the last.
func (tr *track) add(s verdict.Sample, from time.Time) {
	n := len(tr.samples)
	if n >= 2 && quiet(s) && same(s, tr.samples[n-1]) && same(s, tr.samples[n-2]) {
		tr.samples[n-1] = s
	} else {
		tr.samples = append(tr.samples, s)
	}
	base := 0
	for i, x := range tr.samples {
		if x.At.After(from) {
			break
		}
		base = i
	}
	if base > 0 {
		tr.samples = append(tr.samples[:0], tr.samples[base:]...)
	}
}

// quiet: nothing stored, in flight or held.
func quiet(s verdict.Sample) bool { return s.Backlog == 0 && s.InFlight == 0 && s.Buffered == 0 }

// same reports whether two samples say the same but for when.
func same(a, b verdict.Sample) bool {
	a.At = b.At
	return a == b
}

// facts are what holds now for target's worker w.
func (vs *verdicts) facts(target string, w *worker.Worker, st worker.Stats) verdict.Facts {
	t := w.Target()
	f := verdict.Facts{Target: target, Hold: t.Breaker.WhenOpen == worker.WhenOpenHold, LastErrorClass: st.LastErrorClass, Servers: 1}
	f.Concurrency, f.RateLimit = w.Limits()
	for _, b := range w.Breakers() {
		f.Breakers = append(f.Breakers, verdict.Breaker{Endpoint: b.Endpoint, Open: b.State != schemas.BreakerClosed})
	}
	if u, ok := w.HeldUntil(); ok {
		f.HeldUntil = u
	}
	if vs.pauser != nil {
		if until, why, ok := vs.pauser.Paused(target); ok {
			f.Paused = &verdict.Pause{Until: until, Why: why}
		}
	}
	if vs.fleet != nil {
		f.Servers = vs.fleet.servers(target)
	}
	return f
}

// judgeUnserved sets the STOPPED series of the targets with jobs stored
// that no live instance serves (as far as this instance can tell), and
// deletes those of targets no longer so.
func (vs *verdicts) judgeUnserved(workers map[string]*worker.Worker) {
	now := map[string]bool{}
	for t, n := range vs.unserved {
		if n == 0 || workers[t] != nil || vs.fleet == nil {
			continue
		}
		if _, ok := vs.fleet.unserved(t); ok {
			now[t] = true
			vs.m.SetHealth(t, verdict.Stopped.String())
		}
	}
	for t := range vs.stopped {
		if !now[t] && workers[t] == nil {
			vs.m.DeleteHealth(t)
		}
	}
	vs.stopped = now
}

// targetVerdict is v as the fleet record holds it.
func targetVerdict(target string, v verdict.Verdict, since time.Time) TargetVerdict {
	tv := TargetVerdict{
		Target: target, State: v.State, Cause: v.Cause, Since: since.UTC(), Backlog: v.Backlog,
		Trend: round3(v.Trend), Rate: round3(v.Rate), InFlight: v.InFlight, Buffered: v.Buffered,
		Outcomes: v.Outcomes, Deliveries: v.Deliveries, Redeliveries: v.Redeliveries,
	}
	if !v.Until.IsZero() {
		u := v.Until.UTC()
		tv.Until = &u
	}
	switch {
	case v.ETA == verdict.NoETA:
		tv.ETAMS = -1
	case v.ETA > 0:
		tv.ETAMS = max(v.ETA.Milliseconds(), 1)
	}
	if tv.idle() {
		tv.Cause = "" // "idle": a record does not list it
	}
	return tv
}
