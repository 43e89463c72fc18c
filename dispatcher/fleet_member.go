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

// fleetMember is this instance's part in the fleet: its heartbeat and
// target set, its breaker transitions told to the others, and what it hears
// of them: which instance serves which target (fleet_serving.go).
type fleetMember struct {
	id, instance, service string
	started               time.Time
	cfg                   config.Fleet
	grace                 time.Duration // orphan_grace
	inst, brk             jetstream.KeyValue
	pauseKV               jetstream.KeyValue // the pauses bucket; nil: none watched
	log                   *zap.Logger
	m                     *metrics.Metrics
	connected             func() bool
	partSize              int // targetSetPartSize, or less for the server's max payload
	partitions            int // streams.partitions, announced in the heartbeat

	shares chan FleetBreaker // transitions to publish, in order
	kick   chan struct{}     // a heartbeat now: the targets or a share changed

	beat    sync.Mutex // one heartbeat at a time
	written setWritten // under beat
	// healthW is what of the verdicts is written (fleet_health.go); the
	// backlog poller's goroutine alone uses it, then stop.
	healthW healthWritten

	// refreshing orders refresh and attach, so that quotas are applied in
	// the order they were computed.
	refreshing sync.Mutex

	mu           sync.Mutex
	workers      map[string]*worker.Worker // by target; replaced on reload
	own          *TargetSet                // the workers' targets; nil: to compute again
	breakers     map[string]FleetBreaker   // by key: the last record heard
	pauses       map[string]TargetPause    // by target: the last record heard (fleet_pauses.go)
	servingState                           // fleet_serving.go

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// setWritten is what of this instance's target set is in the bucket.
type setWritten struct {
	hash  string
	parts int       // of hash
	at    time.Time // when hash was written
	most  int       // the most parts ever put: what stop deletes
}

func newFleetMember(s *Service, inst, brk jetstream.KeyValue) *fleetMember {
	return &fleetMember{
		id: nuid.Next(), instance: s.instance, service: s.cfg.ServiceName, started: time.Now().UTC(),
		cfg: s.cfg.Fleet, grace: s.cfg.OrphanGrace, inst: inst, brk: brk, log: s.log.With(zap.String("component", "fleet")), m: s.Metrics(),
		connected: s.nc.IsConnected, partitions: s.cfg.Streams.Partitions,
		partSize: min(targetSetPartSize, max(int(s.nc.MaxPayload())-4096, 1024)),
		shares:   make(chan FleetBreaker, 256), kick: make(chan struct{}, 1),
		workers: map[string]*worker.Worker{}, breakers: map[string]FleetBreaker{}, pauses: map[string]TargetPause{},
		servingState: newServingState(),
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

// attach makes w the worker of its target: it gets its quota of the
// target's fleet limits and the breakers held open (by other instances, or
// by the worker w replaces). The fleet hears of a new target at the next
// heartbeat; publishNow sends it at once.
func (f *fleetMember) attach(w *worker.Worker) {
	if f == nil {
		return
	}
	name := w.Target().Name
	f.refreshing.Lock()
	defer f.refreshing.Unlock()
	f.mu.Lock()
	prev := f.workers[name]
	if prev == nil {
		f.own = nil
	}
	f.workers[name] = w
	f.applyPauseLocked(w)
	delete(f.quota, prev)
	q := f.shareOf(name)
	f.quota[w] = q
	var adopt []FleetBreaker
	for _, b := range f.breakers {
		// This instance's own records included: they come from the worker
		// a reload replaced, whose breakers the new one does not have.
		if b.Target == name && b.OpenAt(time.Now()) {
			adopt = append(adopt, b)
		}
	}
	f.mu.Unlock()
	w.SetFleetSize(q.n, q.rank)
	for _, b := range adopt {
		w.AdoptBreaker(b.Endpoint, b.State, *b.Until)
	}
	c, r := w.Limits()
	f.m.SetLimits(name, c, r)
	f.announce()
}

// announce asks for a heartbeat now, so that the fleet hears of a change
// without waiting for the next tick.
func (f *fleetMember) announce() {
	select {
	case f.kick <- struct{}{}:
	default: // one is already asked for
	}
}

// publishNow sends the heartbeat (and target set) now and refreshes the
// view: the fleet knows this instance's targets once it returns (unless
// NATS failed it, logged).
func (f *fleetMember) publishNow(ctx context.Context) {
	if f == nil {
		return
	}
	f.heartbeat(ctx)
	f.refresh()
}

// detach forgets w, its target's worker (the target was removed, and w
// has stopped). A worker that already replaced w stays.
func (f *fleetMember) detach(w *worker.Worker) {
	if f == nil {
		return
	}
	name := w.Target().Name
	f.mu.Lock()
	if f.workers[name] != w {
		f.mu.Unlock()
		return
	}
	delete(f.workers, name)
	delete(f.quota, w)
	f.own = nil
	f.mu.Unlock()
	f.announce()
}

// ownSet is the set of the targets this instance has a worker for; f.mu
// held.
func (f *fleetMember) ownSet() *TargetSet {
	if f.own == nil {
		f.own = NewTargetSet(slices.Collect(maps.Keys(f.workers)))
	}
	return f.own
}

// start announces this instance and starts the watches, the heartbeat and
// the publisher. Stop undoes it.
func (f *fleetMember) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	iw, err := f.inst.Watch(ctx, heartbeatKeys)
	if err != nil {
		cancel()
		return fmt.Errorf("watch %s: %w", f.inst.Bucket(), err)
	}
	bw, err := f.brk.WatchAll(ctx)
	if err != nil {
		cancel()
		return fmt.Errorf("watch %s: %w", f.brk.Bucket(), err)
	}
	pw, err := f.watchPausesStart(ctx)
	if err != nil {
		cancel()
		return err
	}
	if pw != nil {
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.watchPauses(ctx, pw) }()
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
			case <-f.kick:
			}
			f.heartbeat(ctx)
			f.refresh()
		}
	}()
	return nil
}

// stop removes this instance from the fleet (the others re-split the fleet
// limits at once, and count the orphan grace of the targets only it served
// from now) and ends the goroutines.
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
	f.beat.Lock()
	parts := f.written.most
	f.beat.Unlock()
	for i := range parts {
		if err := f.inst.Delete(ctx, targetSetKey(f.id, i)); err != nil {
			f.log.Debug("fleet leave: target set", zap.Error(err))
		}
	}
	for i := range f.healthW.most {
		if err := f.inst.Delete(ctx, healthKey(f.id, i)); err != nil {
			f.log.Debug("fleet leave: verdicts", zap.Error(err))
		}
	}
}

// heartbeat puts this instance's record, after its target set when that
// changed or is due a refresh.
func (f *fleetMember) heartbeat(ctx context.Context) {
	f.beat.Lock()
	defer f.beat.Unlock()
	rec := FleetInstance{
		ID: f.id, Instance: f.instance, ServiceName: f.service, StartedAt: f.started,
		At: time.Now().UTC(), HeartbeatMS: f.cfg.Heartbeat.Milliseconds(), Targets: []FleetLimits{},
		Partitions: f.partitions,
	}
	f.mu.Lock()
	set := f.ownSet()
	for name := range set.All() {
		w := f.workers[name]
		if w.Target().LimitScope != worker.LimitScopeFleet {
			continue
		}
		if len(rec.Targets) == maxFleetLimits {
			rec.TargetsOmitted++
			continue
		}
		c, r := w.Limits()
		rec.Targets = append(rec.Targets, FleetLimits{Target: name, Scope: worker.LimitScopeFleet, Concurrency: c, PerSecond: r})
	}
	f.mu.Unlock()
	rec.TargetCount, rec.TargetsHash, rec.TargetsParts = set.Len(), set.Hash(), f.written.parts
	if set.Hash() != f.written.hash || time.Since(f.written.at) >= targetSetRefresh {
		parts := set.encode(f.partSize)
		rec.TargetsParts = len(parts)
		if err := f.writeSet(ctx, set.Hash(), parts); err != nil && ctx.Err() == nil {
			// The heartbeat names the set all the same: readers that cannot
			// read it take this instance as serving any target.
			f.log.Warn("fleet target set not written", zap.Int("targets", set.Len()), zap.Error(err))
		}
	}
	data, _ := json.Marshal(rec)
	pctx, cancel := context.WithTimeout(ctx, f.cfg.Heartbeat)
	defer cancel()
	if _, err := f.inst.Put(pctx, f.id, data); err != nil && ctx.Err() == nil {
		f.log.Warn("fleet heartbeat not sent", zap.Error(err))
	}
}

// writeSet puts the parts of the target set hash, then deletes the parts
// of a former, longer set; f.beat held.
func (f *fleetMember) writeSet(ctx context.Context, hash string, parts [][]byte) error {
	pctx, cancel := context.WithTimeout(ctx, max(f.cfg.Heartbeat, 5*time.Second))
	defer cancel()
	f.written.most = max(f.written.most, len(parts))
	for i, p := range parts {
		if _, err := f.inst.Put(pctx, targetSetKey(f.id, i), p); err != nil {
			return fmt.Errorf("put %s: %w", targetSetKey(f.id, i), err)
		}
	}
	for i := len(parts); i < f.written.parts; i++ {
		if err := f.inst.Delete(pctx, targetSetKey(f.id, i)); err != nil {
			return fmt.Errorf("delete %s: %w", targetSetKey(f.id, i), err)
		}
	}
	f.written.hash, f.written.parts, f.written.at = hash, len(parts), time.Now()
	return nil
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
		// Metrics labels and logs show only the display form, whoever wrote
		// the record.
		b.Endpoint = schemas.DisplayEndpoint(b.Endpoint)
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

// openBreakers are the breakers other instances hold open at now, by
// target, as last heard.
func (f *fleetMember) openBreakers(now time.Time) map[string][]FleetBreaker {
	out := map[string][]FleetBreaker{}
	if f == nil {
		return out
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.breakers {
		if b.ByID != f.id && b.OpenAt(now) {
			out[b.Target] = append(out[b.Target], b)
		}
	}
	return out
}
