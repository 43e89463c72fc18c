package dispatcher

import (
	"context"

	"go.uber.org/zap"

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
	s.health.Handle("GET /metrics", s.metrics.Handler())
}

// Metrics is the service's set of Prometheus series (config reloads count
// themselves with Metrics().Reload).
func (s *Service) Metrics() *metrics.Metrics { return s.metrics }

// observer is the worker.Observer every worker of the service reports to,
// targets added by a reload included.
func (s *Service) observer() worker.Option { return worker.WithObserver(s.metrics) }

// startLagPoller starts copying every target's consumer backlog into the
// consumer gauges every 5s; the returned func stops it (bounded).
func (s *Service) startLagPoller() (stop func()) {
	p := metrics.NewPoller(s.metrics, s.readLagMetrics, metrics.PollerSettings{
		OnError: func(err error) { s.log.Debug("lag poll", zap.Error(err)) },
	})
	p.Start()
	return p.Stop
}

// readLagMetrics reads the backlog of the targets of the config in force.
func (s *Service) readLagMetrics(ctx context.Context) ([]metrics.Lag, error) {
	s.wmu.Lock()
	known := make([]string, 0, len(s.workers))
	for name := range s.workers { // targets added and removed by reloads included
		known = append(known, name)
	}
	s.wmu.Unlock()
	if len(known) == 0 {
		return nil, nil
	}
	lag, err := ReadLag(ctx, s.js, s.topo, LagSettings{Known: known, Only: known, backlogOnly: true})
	if err != nil {
		return nil, err
	}
	out := make([]metrics.Lag, 0, len(lag.Targets))
	for _, t := range lag.Targets {
		out = append(out, metrics.Lag{
			Target: t.Target, Pending: t.Pending, AckPending: t.InFlight,
			Redelivered: t.Redelivered, OldestPendingSeconds: t.OldestPendingSeconds,
		})
	}
	return out, nil
}
