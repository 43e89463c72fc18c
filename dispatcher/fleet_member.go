package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// fleetMember is this instance's part in the fleet: its heartbeat, its
// breaker transitions told to the others, and what it hears of them.
type fleetMember struct {
	id, instance, service string
	started               time.Time
	cfg                   config.Fleet
	inst, brk             jetstream.KeyValue
	log                   *zap.Logger
	m                     *metrics.Metrics
	connected             func() bool

	shares chan FleetBreaker // transitions to publish, in order
	kick   chan struct{}     // a heartbeat now: the targets or a share changed

	mu       sync.Mutex
	workers  map[string]*worker.Worker // by target; replaced on reload
	seen     map[string]time.Time      // live instance IDs -> last heard (local clock)
	breakers map[string]FleetBreaker   // by key: the last record heard
	n, rank  int

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newFleetMember(s *Service, inst, brk jetstream.KeyValue) *fleetMember {
	return &fleetMember{
		id: nuid.Next(), instance: s.instance, service: s.cfg.ServiceName, started: time.Now().UTC(),
		cfg: s.cfg.Fleet, inst: inst, brk: brk, log: s.log.With(zap.String("component", "fleet")), m: s.Metrics(),
		connected: s.nc.IsConnected,
		shares:    make(chan FleetBreaker, 256), kick: make(chan struct{}, 1),
		workers: map[string]*worker.Worker{}, seen: map[string]time.Time{}, breakers: map[string]FleetBreaker{},
		n: 1,
	}
}

// Share implements worker.BreakerShare: it queues the transition for
// publication and never blocks (a full queue drops it, logged).
func (f *fleetMember) Share(target, endpoint string, state schemas.BreakerState, until time.Time) {
	if !f.cfg.ShareBreakers {
		return
	}
	rec := FleetBreaker{Target: target, Endpoint: endpoint, State: state, By: f.instance, ByID: f.id, At: time.Now().UTC()}
	if !until.IsZero() {
		u := until.UTC()
		rec.Until = &u
	}
	select {
	case f.shares <- rec:
	default:
		f.log.Warn("breaker transition not shared: queue full", zap.String("target", target), zap.Stringer("state", state))
	}
}

// attach makes w the worker of its target: it gets the fleet's current
// share and the breakers held open (by other instances, or by the worker w
// replaces).
func (f *fleetMember) attach(w *worker.Worker) {
	if f == nil {
		return
	}
	name := w.Target().Name
	f.mu.Lock()
	f.workers[name] = w
	n, rank := f.n, f.rank
	var adopt []FleetBreaker
	for _, b := range f.breakers {
		// This instance's own records included: they come from the worker
		// a reload replaced, whose breakers the new one does not have.
		if b.Target == name && b.OpenAt(time.Now()) {
			adopt = append(adopt, b)
		}
	}
	f.mu.Unlock()
	w.SetFleetSize(n, rank)
	for _, b := range adopt {
		w.AdoptBreaker(b.Endpoint, b.State, *b.Until)
	}
	c, r := w.Limits()
	f.m.SetLimits(name, c, r)
	f.announce()
}

// announce asks for a heartbeat now, so that the fleet view shows a change
// without waiting for the next tick.
func (f *fleetMember) announce() {
	select {
	case f.kick <- struct{}{}:
	default: // one is already asked for
	}
}

// detach forgets target's worker (the target was removed).
func (f *fleetMember) detach(target string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	delete(f.workers, target)
	f.mu.Unlock()
	f.announce()
}

// start announces this instance and starts the watches, the heartbeat and
// the publisher. Stop undoes it.
func (f *fleetMember) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	iw, err := f.inst.WatchAll(ctx)
	if err != nil {
		cancel()
		return fmt.Errorf("watch %s: %w", f.inst.Bucket(), err)
	}
	bw, err := f.brk.WatchAll(ctx)
	if err != nil {
		cancel()
		return fmt.Errorf("watch %s: %w", f.brk.Bucket(), err)
	}
	f.heartbeat(ctx)
	f.wg.Add(4)
	go func() { defer f.wg.Done(); f.watchInstances(ctx, iw) }()
	go func() { defer f.wg.Done(); f.watchBreakers(ctx, bw) }()
	go func() { defer f.wg.Done(); f.publish(ctx) }()
	go func() {
		defer f.wg.Done()
		t := time.NewTicker(f.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f.heartbeat(ctx)
				f.refresh()
			case <-f.kick:
				f.heartbeat(ctx)
			}
		}
	}()
	return nil
}

// stop removes this instance from the fleet (the others re-split the fleet
// limits at once) and ends the goroutines.
func (f *fleetMember) stop() {
	if f == nil || f.cancel == nil {
		return
	}
	f.cancel()
	f.wg.Wait()
	if !f.connected() {
		return // the others stop counting this instance after 3 heartbeats
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := f.inst.Delete(ctx, f.id); err != nil {
		f.log.Debug("fleet leave", zap.Error(err))
	}
}

// heartbeat puts this instance's record.
func (f *fleetMember) heartbeat(ctx context.Context) {
	rec := FleetInstance{
		ID: f.id, Instance: f.instance, ServiceName: f.service, StartedAt: f.started,
		At: time.Now().UTC(), HeartbeatMS: f.cfg.Heartbeat.Milliseconds(),
	}
	f.mu.Lock()
	for _, name := range slices.Sorted(maps.Keys(f.workers)) {
		w := f.workers[name]
		c, r := w.Limits()
		rec.Targets = append(rec.Targets, FleetLimits{Target: name, Scope: w.Target().LimitScope, Concurrency: c, PerSecond: r})
	}
	f.mu.Unlock()
	data, _ := json.Marshal(rec)
	pctx, cancel := context.WithTimeout(ctx, f.cfg.Heartbeat)
	defer cancel()
	if _, err := f.inst.Put(pctx, f.id, data); err != nil && ctx.Err() == nil {
		f.log.Warn("fleet heartbeat not sent", zap.Error(err))
	}
}

// each calls fn with every update of w until ctx ends: the bucket's current
// values, then nil (they are all read), then changes. There is no w.Stop():
// ctx's end unsubscribes, in the library's goroutine (with NATS down its
// consumer delete waits 5s, which a shutdown must not).
func each(ctx context.Context, w jetstream.KeyWatcher, fn func(jetstream.KeyValueEntry)) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			fn(e)
		}
	}
}

// watchInstances keeps the heartbeats heard, by instance ID.
func (f *fleetMember) watchInstances(ctx context.Context, w jetstream.KeyWatcher) {
	initial := true
	each(ctx, w, func(e jetstream.KeyValueEntry) {
		if e == nil {
			initial = false
			f.refresh()
			return
		}
		f.mu.Lock()
		switch {
		case e.Operation() != jetstream.KeyValuePut:
			delete(f.seen, e.Key())
		case initial && e.Created().Before(time.Now()):
			// A record read at start counts from when it was stored.
			f.seen[e.Key()] = e.Created()
		default:
			f.seen[e.Key()] = time.Now()
		}
		f.mu.Unlock()
		if !initial {
			f.refresh()
		}
	})
}

// live counts the instances heard from within 3 heartbeats (this one
// always), and this instance's rank among them by ID.
func (f *fleetMember) live() (n, rank int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cutoff := time.Now().Add(-3 * f.cfg.Heartbeat)
	ids := []string{f.id}
	for id, at := range f.seen {
		if id != f.id && at.After(cutoff) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return len(ids), slices.Index(ids, f.id)
}

// refresh re-splits the fleet limits when the live count changed, and
// updates the fleet metrics.
func (f *fleetMember) refresh() {
	n, rank := f.live()
	now := time.Now()
	f.mu.Lock()
	changed := n != f.n || rank != f.rank
	f.n, f.rank = n, rank
	ws := make([]*worker.Worker, 0, len(f.workers))
	for _, w := range f.workers {
		ws = append(ws, w)
	}
	view := make([]metrics.FleetBreaker, 0, len(f.breakers))
	for _, b := range f.breakers {
		view = append(view, metrics.FleetBreaker{Target: b.Target, Endpoint: b.Endpoint, Open: b.OpenAt(now)})
	}
	f.mu.Unlock()
	if changed {
		f.log.Info("fleet changed", zap.Int("instances", n), zap.Int("rank", rank))
		for _, w := range ws {
			w.SetFleetSize(n, rank)
		}
		f.announce()
	}
	for _, w := range ws {
		c, r := w.Limits()
		f.m.SetLimits(w.Target().Name, c, r)
	}
	f.m.SetFleet(n, view)
}

// watchBreakers keeps the last record of every endpoint's breaker and
// hands the other instances' transitions to the target's worker.
func (f *fleetMember) watchBreakers(ctx context.Context, w jetstream.KeyWatcher) {
	each(ctx, w, func(e jetstream.KeyValueEntry) {
		if e == nil || e.Operation() != jetstream.KeyValuePut {
			return
		}
		var b FleetBreaker
		if err := json.Unmarshal(e.Value(), &b); err != nil || b.Target == "" || b.Endpoint == "" {
			f.log.Warn("fleet breaker record ignored", zap.String("key", e.Key()), zap.Error(err))
			return
		}
		f.mu.Lock()
		f.breakers[e.Key()] = b
		wk := f.workers[b.Target]
		f.mu.Unlock()
		if wk != nil && b.ByID != f.id && f.cfg.ShareBreakers {
			until := time.Time{}
			if b.Until != nil {
				until = *b.Until
			}
			wk.AdoptBreaker(b.Endpoint, b.State, until)
		}
		f.refresh()
	})
}

// publish puts the queued transitions in order, each retried briefly.
func (f *fleetMember) publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case rec := <-f.shares:
			data, _ := json.Marshal(rec)
			for try := range 3 {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := f.brk.Put(pctx, breakerKey(rec.Target, rec.Endpoint), data)
				cancel()
				if err == nil || ctx.Err() != nil {
					break
				}
				f.log.Warn("breaker transition not shared", zap.String("target", rec.Target),
					zap.Stringer("state", rec.State), zap.Int("try", try+1), zap.Error(err))
			}
		}
	}
}
