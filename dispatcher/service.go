package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/dispatcher/console"
	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// ErrStartup is wrapped by errors that stop the service before it is ready.
var ErrStartup = errors.New("dispatcher: startup failed")

var _ worker.Recorder = (*deadletter.Writer)(nil)

// Option sets runtime wiring of Run.
type Option func(*runOptions)

type runOptions struct {
	log     *zap.Logger
	build   metrics.BuildInfo // observability.go
	onReady func(*Service)
	nats    config.NATSOverride
	// hot reload: reload.go
	onReload   func(ok bool)
	configPath string
	reloadOn   <-chan os.Signal
}

// WithLogger sets the logger.
func WithLogger(l *zap.Logger) Option { return func(o *runOptions) { o.log = l } }

// OnReady is called once every worker is running (tests, demo).
func OnReady(f func(*Service)) Option { return func(o *runOptions) { o.onReady = f } }

// WithNATSOverride applies o (config.OverrideNATS) to every config the
// service runs with: the one given to Run and each one reloaded from the
// config file, so settings given on the command line outlast reloads. When
// the result breaks a rule of the nats section, Run returns the config
// error (wrapped in ErrStartup) and a reload is refused.
func WithNATSOverride(o config.NATSOverride) Option { return func(ro *runOptions) { ro.nats = o } }

// Service is a running dispatcher.
type Service struct {
	cfg      *config.Config
	log      *zap.Logger
	baseLog  *zap.Logger // without service_name: workers add it themselves
	health   *Health
	nc       *nats.Conn
	js       jetstream.JetStream
	topo     schemas.Topology
	workers  map[string]*worker.Worker
	wmu      sync.Mutex // guards workers once running (reload.go)
	reload   reloadState
	instance string
	metrics  *metrics.Metrics // observability.go
	figures  *console.Figures // the console's in-process figures (console.go)
	sweeper  *orphanSweeper   // orphans.go
	// stateKeys are the keys of the retry state's MAC (statekeys.go).
	stateKeys worker.StateKeys
	// userAgent is the User-Agent of the workers' calls.
	userAgent string
	fleet     *fleetMember // fleet_member.go
	// pauser tells which targets an operator paused (verdicts.go): the
	// fleet member, which watches the pauses bucket (fleet_pauses.go); nil
	// before the fleet is up.
	pauser Pauser
	// cons is how this instance consumes: the partitions' intakes and the
	// router to the workers (consumption.go); stopLegacy ends the drain of
	// an earlier version's consumers (legacy.go).
	cons       *consumption
	stopLegacy func()
	// natsOverride is applied to every config reloaded (WithNATSOverride).
	natsOverride config.NATSOverride
}

// NATSURL is the URL of the NATS server in use (the embedded one's when embedded).
func (s *Service) NATSURL() string { return s.nc.ConnectedUrl() }

// HTTPAddr is the bound address of the health listener.
func (s *Service) HTTPAddr() string { return s.health.Addr() }

// Run runs the service until ctx is canceled, then shuts down gracefully
// within cfg.ShutdownTimeout. It returns nil after a clean shutdown, also
// when ctx is canceled after NATS was reached but before the service is
// ready. Every error it returns stopped the start and wraps ErrStartup,
// among them a stop requested before NATS was ever reachable.
func Run(ctx context.Context, cfg *config.Config, opts ...Option) error {
	o := runOptions{log: zap.NewNop(), build: metrics.BuildInfo{Version: "dev"}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.nats != (config.NATSOverride{}) {
		c := *cfg
		if err := c.OverrideNATS(o.nats); err != nil {
			return fmt.Errorf("%w: %w", ErrStartup, err)
		}
		cfg = &c
	}
	host, _ := os.Hostname()
	s := &Service{
		cfg: cfg, log: o.log.With(zap.String("service_name", cfg.ServiceName)), baseLog: o.log, health: NewHealth(), topo: schemas.Topology{Prefix: cfg.NATS.SubjectPrefix},
		workers: map[string]*worker.Worker{}, instance: host + "/" + strconv.Itoa(os.Getpid()),
		userAgent: "dispatcher/" + o.build.Version, natsOverride: o.nats,
	}
	s.initObservability(o.build)
	if err := checkHTTPToken(cfg.HTTP.Listen, cfg.HTTP.Token); err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	s.health.SetToken(cfg.HTTP.Token)
	if err := s.health.Listen(cfg.HTTP.Listen); err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	healthDone := make(chan error, 1)
	go func() { healthDone <- s.health.Serve() }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.health.Shutdown(sctx)
		<-healthDone
	}()
	s.log.Info("health listening", zap.String("addr", s.health.Addr()))

	url := cfg.NATS.URL
	if url == "" {
		s.health.SetNotReady("starting embedded NATS")
		srv, err := StartEmbedded(EmbeddedOptions{Listen: cfg.NATS.Embedded.Listen, StoreDir: cfg.NATS.Embedded.StoreDir, Token: cfg.NATS.Embedded.Token})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStartup, err)
		}
		defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
		url = srv.ClientURL()
		s.log.Info("embedded NATS started", zap.String("url", url), zap.String("store_dir", cfg.NATS.Embedded.StoreDir))
	}

	s.health.SetNotReady("connecting to NATS")
	if err := s.connect(ctx, url, cfg.NATS.URL == ""); err != nil {
		if ctx.Err() != nil {
			// Asked to stop before NATS was ever reachable: the start
			// failed (exit 1, docs/cli.md), but not with ctx's error.
			return fmt.Errorf("%w: stopped before NATS at %s was reachable", ErrStartup, RedactNATSURL(url))
		}
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	defer s.nc.Close()

	s.health.SetNotReady("creating streams and consumers")
	if err := s.start(ctx); err != nil {
		s.stopConsuming()
		s.fleet.stop()
		if ctx.Err() != nil {
			return nil // asked to stop while starting
		}
		return err
	}
	// The first verdicts are in the fleet bucket before the instance says
	// it is ready, so that a 'lag' run at once reads them (bounded: a
	// failing backlog read delays readiness by firstVerdictsWait at most).
	stopPoller, judged := s.startLagPoller()
	defer stopPoller()
	select {
	case <-judged:
	case <-time.After(firstVerdictsWait):
		s.log.Warn("no verdicts yet; ready without them", zap.Duration("waited", firstVerdictsWait))
	case <-ctx.Done():
	}
	s.health.SetNotReady("")
	s.health.SetCheck(func() string {
		if !s.nc.IsConnected() {
			return "NATS connection " + s.nc.Status().String()
		}
		return ""
	})
	s.log.Info("ready", zap.Int("targets", len(s.workers)), zap.Int("partitions", s.cons.n), zap.String("nats", s.nc.ConnectedUrlRedacted()))
	stopReload := s.startReload(&o)
	stopConsole := s.startConsole()
	if o.onReady != nil {
		o.onReady(s)
	}

	sweepCtx, stopSweep := context.WithCancel(context.Background())
	var sweepWG sync.WaitGroup
	sweepWG.Add(1)
	go func() {
		defer sweepWG.Done()
		s.sweeper.run(sweepCtx)
	}()

	<-ctx.Done()
	s.log.Info("shutting down", zap.Duration("shutdown_timeout", cfg.ShutdownTimeout))
	s.health.SetNotReady("shutting down")
	stopSweep()
	sweepWG.Wait()
	stopReload()
	stopConsole()
	stopPoller() // before the fleet leaves: it writes the verdicts there
	s.stopConsuming()
	s.fleet.stop() // after the workers: the others take over our share only now
	// Results and acks already written go out now; with NATS unreachable
	// this must not outlast the shutdown budget (Flush alone waits 10s).
	if s.nc.IsConnected() {
		if err := s.nc.FlushTimeout(500 * time.Millisecond); err != nil {
			s.log.Warn("flush", zap.Error(err))
		}
	}
	s.log.Info("stopped")
	return nil
}

// parseConfig parses a config file's content the way Run got its config:
// environment references expanded, the NATS override applied.
func (s *Service) parseConfig(data []byte) (*config.Config, error) {
	cfg, err := config.Parse(data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if s.natsOverride != (config.NATSOverride{}) {
		if err := cfg.OverrideNATS(s.natsOverride); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// connect connects to NATS, retrying until ctx is done; once connected the
// client reconnects by itself forever. To the embedded server it presents
// nats.embedded.token (EmbeddedAccess).
func (s *Service) connect(ctx context.Context, url string, embedded bool) error {
	opts := []nats.Option{
		nats.Name("dispatcher " + s.cfg.ServiceName),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				return // our own Close at shutdown
			}
			s.log.Warn("NATS disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.log.Info("NATS reconnected", zap.String("url", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			s.log.Warn("NATS async error", zap.Error(err))
		}),
	}
	n := s.cfg.NATS
	if embedded {
		n = EmbeddedAccess(n)
	}
	access, err := NATSAccessOptions(n)
	if err != nil {
		return err
	}
	opts = append(opts, access...)
	return s.retry(ctx, "NATS not reachable; retrying", func(context.Context) error {
		nc, err := nats.Connect(url, opts...)
		if err != nil {
			return err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return backoff.Permanent(err)
		}
		s.nc, s.js = nc, js
		return nil
	}, zap.String("url", RedactNATSURL(url)))
}

// retry calls fn, each attempt bounded by 15s, until it succeeds, fails
// permanently (backoff.Permanent) or ctx is done. Every failure is logged
// as msg with fields, the error and the delay before the next attempt.
func (s *Service) retry(ctx context.Context, msg string, fn func(ctx context.Context) error, fields ...zap.Field) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 200*time.Millisecond, 5*time.Second, 0
	return backoff.RetryNotify(func() error {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		return fn(actx)
	}, backoff.WithContext(b, ctx), func(err error, d time.Duration) {
		s.log.Warn(msg, append(fields[:len(fields):len(fields)], zap.Error(err), zap.Duration("retry_delay", d))...)
	})
}

// start creates the topology and starts one worker per target, retrying
// transient JetStream failures until ctx is done.
func (s *Service) start(ctx context.Context) error {
	err := s.retry(ctx, "streams not ready; retrying", func(ctx context.Context) error {
		err := EnsureStreams(ctx, s.js, s.topo, s.streamSettings(s.cfg))
		if errors.Is(err, ErrMigrating) {
			return backoff.Permanent(err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	if legacy, err := LegacyJobsStream(ctx, s.js, s.topo); err == nil && legacy {
		s.log.Warn("the jobs stream was created by a version before partitions and allows scheduled messages and rollups: "+
			"a publisher can purge waiting jobs with a Nats-Rollup header until 'dispatcher streams migrate-jobs' recreates it (docs/runbook.md)",
			zap.String("stream", s.topo.JobsStream()))
	}
	err = s.retry(ctx, "fleet buckets not ready; retrying", func(ctx context.Context) error {
		inst, brk, err := fleetBuckets(ctx, s.js, s.topo, s.cfg.NATS.Replicas)
		if err != nil {
			return err
		}
		pz, err := pausesBucket(ctx, s.js, s.topo, s.cfg.NATS.Replicas)
		if err != nil {
			return err
		}
		s.fleet = newFleetMember(s, inst, brk)
		s.fleet.pauseKV = pz
		s.pauser = s.fleet
		return s.fleet.start()
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	err = s.retry(ctx, "keys not ready; retrying", func(ctx context.Context) error {
		keys, err := stateKeys(ctx, s.js, s.topo, s.cfg.Security, s.cfg.NATS.Replicas)
		s.stateKeys = keys
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	s.sweeper = &orphanSweeper{
		topo: s.topo, js: s.js, rec: deadletter.NewWriter(s.js, s.cfg.NATS.SubjectPrefix),
		unserved: s.fleet.unserved,
		grace:    s.cfg.OrphanGrace, log: s.log, service: s.cfg.ServiceName, instance: s.instance,
		obs: s.Metrics(),
	}
	s.sweeper.setSecurity(s.cfg.Security)
	// Every worker is built and attached before any delivery comes: the
	// fleet hears of this instance's targets first, so that no other
	// instance takes their jobs for orphans meanwhile.
	s.cons = newConsumption(s, s.cfg.Streams.Partitions)
	for _, name := range s.cfg.TargetNames() {
		w, err := s.newWorker(s.cfg.Targets[name], s.cfg.Security)
		if err != nil {
			return fmt.Errorf("%w: target %s: %w", ErrStartup, name, err)
		}
		s.fleet.attach(w)
		s.wmu.Lock()
		s.workers[name] = w
		s.wmu.Unlock()
	}
	s.publishWorkers()
	s.fleet.publishNow(ctx)
	if err := s.cons.start(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrStartup, err)
	}
	stopLegacy, err := s.drainLegacy(ctx)
	if err != nil {
		return fmt.Errorf("%w: consumers of the per-target consumption: %w", ErrStartup, err)
	}
	s.stopLegacy = stopLegacy
	for _, name := range s.cfg.TargetNames() {
		w := s.cons.Worker(name)
		c, r := w.Limits()
		s.log.Debug("worker ready", zap.String("target", name), zap.Int("concurrency", c), zap.Float64("rate_per_second", r),
			zap.String("limit_scope", w.Target().LimitScope), zap.Int("partition", schemas.Partition(name, s.cons.n)),
			zap.Strings("endpoints", displayEndpoints(s.cfg.Targets[name].Endpoints)))
	}
	return nil
}

// publishWorkers makes the workers map the one deliveries are routed by.
func (s *Service) publishWorkers() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.cons.setWorkers(s.workers)
}

// streamSettings are the stream settings of cfg.
func (s *Service) streamSettings(cfg *config.Config) StreamSettings {
	return StreamSettings{
		Replicas: cfg.NATS.Replicas, DeadLetterMaxAge: cfg.Streams.DeadLetterMaxAge, FallbackMaxAge: cfg.Streams.FallbackMaxAge,
		AuditMaxAge:  cfg.Streams.AuditMaxAge,
		SettleWindow: SettleWindow(cfg), Partitions: cfg.Streams.Partitions,
	}
}

// stopBudget is how long a worker may take to stop gracefully: the
// shutdown timeout less a margin for the hand-back and the exit.
func (s *Service) stopBudget() time.Duration {
	return s.cfg.ShutdownTimeout - min(time.Second, s.cfg.ShutdownTimeout/10)
}

// stopConsuming stops the intakes' pulls, then every worker at once
// (waiting deliveries handed back, calls in flight finished), then the
// intakes, all within the shutdown timeout.
func (s *Service) stopConsuming() {
	ctx, cancel := context.WithTimeout(context.Background(), s.stopBudget())
	defer cancel()
	if s.stopLegacy != nil {
		s.stopLegacy()
	}
	if s.cons != nil {
		s.cons.stopFetching()
	}
	s.stopWorkers(ctx)
	if s.cons != nil {
		s.cons.stop(ctx)
	}
}

// stopWorkers stops every worker at once, within ctx.
func (s *Service) stopWorkers(ctx context.Context) {
	var wg sync.WaitGroup
	s.wmu.Lock()
	for _, w := range s.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.Stop(ctx) }()
	}
	s.wmu.Unlock()
	wg.Wait()
	s.reload.retiring.Wait()
}

// displayEndpoints is endpoints as logs show them (schemas.DisplayEndpoint).
func displayEndpoints(endpoints []string) []string {
	out := make([]string, len(endpoints))
	for i, e := range endpoints {
		out[i] = schemas.DisplayEndpoint(e)
	}
	return out
}
