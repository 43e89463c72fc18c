package dispatcher

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/dispatcher/console"
	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/worker"
)

// The operator console (dispatcher/console) is served under /ui/ on the
// health listener once the service is ready. Its figures hang off every
// worker beside the metrics (observer), the backlog poller samples the
// backlog and the verdicts into them, and consoleBackend reads the rest
// from memory: the workers, the fleet member's pauses and breakers.

// consoleStopBudget bounds the end of the console's replays at shutdown.
const consoleStopBudget = 5 * time.Second

// startConsole serves the console; the returned func cancels the replays
// it runs and waits for them (bounded).
func (s *Service) startConsole() (stop func()) {
	c, err := console.New(s.js, s.topo, consoleBackend{s}, s.figures, s.health, console.Settings{},
		console.WithLogger(s.log.With(zap.String("component", "console"))), console.WithLoopback(s.health.Loopback()))
	if err != nil {
		s.log.Error("console not served", zap.Error(err))
		return func() {}
	}
	s.health.Handle(console.Prefix, c.Handler())
	s.health.Handle("GET /ui", http.RedirectHandler(console.Prefix, http.StatusMovedPermanently))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), consoleStopBudget)
		defer cancel()
		c.Stop(ctx)
	}
}

// consoleBacklog samples a backlog reading into the console's figures.
func (s *Service) consoleBacklog(b metrics.Backlog, at time.Time) {
	pending := make(map[string]uint64, len(b.Targets))
	for _, t := range b.Targets {
		pending[t.Target] = t.Pending
	}
	s.figures.ObserveBacklog(pending, at)
}

// consoleVerdicts hands the verdicts of a judgement to the console.
func (s *Service) consoleVerdicts(all map[string]TargetVerdict) {
	out := make(map[string]console.Verdict, len(all))
	for name, v := range all {
		cv := console.Verdict{State: v.State.String(), Cause: v.Cause, Since: v.Since, Backlog: v.Backlog, Rate: v.Rate,
			ETA: time.Duration(v.ETAMS) * time.Millisecond}
		if v.Until != nil {
			cv.Until = *v.Until
		}
		out[name] = cv
	}
	s.figures.ObserveVerdicts(out)
}

// consoleBackend is the service as the console sees it.
type consoleBackend struct{ s *Service }

var _ console.Backend = consoleBackend{}

// Targets reads the workers and the fleet member's memory.
func (b consoleBackend) Targets() []console.TargetState {
	s := b.s
	workers := s.servedWorkers()
	names := make([]string, 0, len(workers))
	for n := range workers {
		names = append(names, n)
	}
	slices.Sort(names)
	now := time.Now()
	fleetOpen := s.fleet.openBreakers(now)
	out := make([]console.TargetState, 0, len(names))
	for _, name := range names {
		w := workers[name]
		out = append(out, targetState(w, fleetOpen[name], s.fleet, now))
	}
	return out
}

func targetState(w *worker.Worker, open []FleetBreaker, f *fleetMember, now time.Time) console.TargetState {
	t := w.Target()
	st := w.Stats()
	ts := console.TargetState{Name: t.Name, LimitScope: t.LimitScope, InFlight: st.InFlight, Buffered: st.Buffered, Servers: 1}
	if ts.LimitScope == "" {
		ts.LimitScope = worker.LimitScopeInstance
	}
	ts.Concurrency, ts.RatePerSecond = w.Limits()
	for _, br := range w.Breakers() {
		e := console.EndpointState{Endpoint: br.Endpoint, Local: br.State.String()}
		for _, o := range open {
			if o.Endpoint == br.Endpoint {
				e.FleetOpenBy = o.By
				if o.Until != nil {
					e.FleetUntil = *o.Until
				}
			}
		}
		ts.Endpoints = append(ts.Endpoints, e)
	}
	if u, ok := w.HeldUntil(); ok {
		ts.HeldUntil = u
	}
	if f != nil {
		ts.Servers = max(f.servers(t.Name), 1)
		if p, ok := f.pauseOf(t.Name, now); ok {
			ps := &console.PauseState{By: p.By, At: p.At, Reason: p.Reason}
			if p.Until != nil {
				ps.Until = *p.Until
			}
			ts.Paused = ps
		}
	}
	return ts
}

// Fleet reads the fleet view from the KV buckets.
func (b consoleBackend) Fleet(ctx context.Context) (*console.Fleet, error) {
	s := b.s
	fv, err := ReadFleet(ctx, s.js, s.topo, time.Now())
	if err != nil {
		return nil, err
	}
	out := &console.Fleet{Complete: fv.Serving().Complete()}
	self := ""
	if s.fleet != nil {
		self = s.fleet.id
	}
	for _, in := range fv.Instances {
		out.Instances = append(out.Instances, console.Instance{ID: in.ID, Instance: in.Instance, ServiceName: in.ServiceName,
			StartedAt: in.StartedAt, At: in.At, TargetCount: in.TargetCount, Partitions: in.Partitions, Self: in.ID == self})
	}
	counts := map[string]int{}
	for _, id := range fv.Serving().Instances() {
		if set := fv.Serving().Set(id); set != nil {
			for name := range set.All() {
				counts[name]++
			}
		}
	}
	workers := s.servedWorkers()
	for name := range workers {
		if counts[name] == 0 {
			counts[name] = 1 // this instance, before its set is heard
		}
	}
	for name, n := range counts {
		ft := console.FleetTarget{Target: name, Servers: n}
		if w := workers[name]; w != nil {
			ft.Here, ft.LimitScope = true, w.Target().LimitScope
			if ft.LimitScope == "" {
				ft.LimitScope = worker.LimitScopeInstance
			}
			if self != "" {
				_, ft.Rank = fv.Serving().Share(name, self)
			}
		}
		out.Targets = append(out.Targets, ft)
	}
	slices.SortFunc(out.Targets, func(a, b console.FleetTarget) int { return strings.Compare(a.Target, b.Target) })
	for _, br := range fv.OpenBreakers {
		fb := console.FleetBreaker{Target: br.Target, Endpoint: br.Endpoint, State: br.State.String(), By: br.By, At: br.At}
		if br.Until != nil {
			fb.Until = *br.Until
		}
		out.OpenBreakers = append(out.OpenBreakers, fb)
	}
	return out, nil
}

// Pause pauses target for the fleet (Pause), audited as who.
func (b consoleBackend) Pause(ctx context.Context, target string, until time.Time, who, reason string) error {
	_, err := Pause(ctx, b.s.js, b.s.topo, target, until, who, reason)
	return err
}

// Resume resumes target for the fleet (Resume), audited as who.
func (b consoleBackend) Resume(ctx context.Context, target, who string) (bool, error) {
	was, err := Resume(ctx, b.s.js, b.s.topo, target, who)
	return was != nil, err
}
