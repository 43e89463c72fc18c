package dispatcher

import (
	"context"
	"maps"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/dispatcher/console"
	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/worker"
)

// WithBuildInfo sets the version and commit the service reports: in
// dispatcher_build_info and in the User-Agent of its calls
// ("dispatcher/<version>"). Default: "dev", no commit.
func WithBuildInfo(version, commit string) Option {
	return func(o *runOptions) { o.build = metrics.BuildInfo{Version: version, Commit: commit} }
}

// initObservability creates the service's Metrics and serves them at
// GET /metrics on the health listener.
func (s *Service) initObservability(bi metrics.BuildInfo) {
	s.metrics = metrics.New(bi)
	s.figures = console.NewFigures(console.FigureSettings{})
	s.health.Handle("GET /metrics", s.metrics.Handler())
}

// Metrics is the service's set of Prometheus series (config reloads count
// themselves with Metrics().Reload).
func (s *Service) Metrics() *metrics.Metrics { return s.metrics }

// observer is the worker.Observer every worker of the service reports to,
// targets added by a reload included.
func (s *Service) observer() worker.Option {
	return worker.WithObserver(worker.Tee(s.metrics, s.figures))
}

// startLagPoller starts copying the backlog (of the targets and of the
// partitions' consumers) into the backlog gauges, and judging every
// target's health on it (verdicts.go), every pollEvery(health.window): 5s
// with the default window. The returned func stops it (bounded; twice is
// once); judged is closed once the first verdicts are published.
func (s *Service) startLagPoller() (stop func(), judged <-chan struct{}) {
	r := newLagReader(s.js, s.topo) // one poller goroutine uses it
	vs := newVerdicts(s.cfg.Health.Window, s.metrics, s.fleet, s.servedWorkers)
	vs.pauser = s.pauser
	vs.judged = s.consoleVerdicts
	ctx, cancel := context.WithCancel(context.Background())
	var first sync.Once
	done := make(chan struct{})
	p := metrics.NewPoller(s.metrics, func(ctx context.Context) (metrics.Backlog, error) {
		b, unserved, err := s.readBacklog(ctx, r)
		vs.unserved = unserved
		return b, err
	}, metrics.PollerSettings{
		Every:   pollEvery(s.cfg.Health.Window),
		OnError: func(err error) { s.log.Debug("lag poll", zap.Error(err)) },
		OnReading: func(b metrics.Backlog, at time.Time) {
			s.consoleBacklog(b, at)
			vs.observe(ctx, b, at)
			first.Do(func() { close(done) })
		},
	})
	p.Start()
	return func() { cancel(); p.Stop() }, done
}

// firstVerdictsWait bounds how long a start waits for its first verdicts.
const firstVerdictsWait = 5 * time.Second

// servedWorkers is a copy of the workers map: the targets served now.
func (s *Service) servedWorkers() map[string]*worker.Worker {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return maps.Clone(s.workers)
}

// readBacklog reads the backlog of the targets of the config in force
// (those with a backlog only) and the partitions' consumers.
func (s *Service) readBacklog(ctx context.Context, r *lagReader) (metrics.Backlog, map[string]uint64, error) {
	s.wmu.Lock()
	known := make([]string, 0, len(s.workers))
	for name := range s.workers { // targets added and removed by reloads included
		known = append(known, name)
	}
	s.wmu.Unlock()
	var b metrics.Backlog
	if len(known) == 0 {
		return b, nil, nil
	}
	lag, err := r.read(ctx, LagSettings{Known: known, Only: known, backlogOnly: true})
	if err != nil {
		return b, nil, err
	}
	for _, t := range lag.Targets {
		if t.Pending > 0 {
			b.Targets = append(b.Targets, metrics.TargetBacklog{Target: t.Target, Pending: t.Pending, OldestPendingSeconds: t.OldestPendingSeconds})
		}
	}
	for _, p := range lag.Partitions {
		for i, c := range []*ConsumerLag{p.Jobs, p.Due} {
			kind := metrics.KindJobs
			if i == 1 {
				kind = metrics.KindDue
			}
			if c != nil {
				b.Partitions = append(b.Partitions, metrics.ConsumerBacklog{Partition: p.Partition, Kind: kind,
					Pending: c.Pending, AckPending: c.InFlight, Redelivered: c.Redelivered, WaitingPulls: c.WaitingPulls})
			}
		}
	}
	return b, lag.unserved, nil
}
