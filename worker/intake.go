package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Router tells an intake where a delivery goes.
type Router interface {
	// Worker returns this instance's worker of target, nil when it serves
	// no such target.
	Worker(target string) *Worker
	// Unserved disposes of a delivery for a target this instance does not
	// serve (another instance's during a rolling deploy, or an orphan),
	// then calls done; it may do so in the background.
	Unserved(m jetstream.Msg, target string, done func())
}

// IntakeConfig is what an intake pulls and where it hands deliveries.
type IntakeConfig struct {
	// Name names the intake in logs, e.g. "jobs-3".
	Name string
	// Consumer is the durable consumer pulled: a partition's, or a target's
	// of the per-target consumption being drained.
	Consumer jetstream.Consumer
	// Target is the target of a delivery's subject.
	Target func(subject string) (string, bool)
	Router Router
	// Budget is how many deliveries the intake may hold at once (fetched
	// and not ended), read before each fetch.
	Budget func() int
	// AckWait is the consumer's: deliveries held are refreshed well within it.
	AckWait time.Duration
	// OthersWaiting reports whether jobs of targets other than target wait
	// in the consumer (not yet delivered): only then is a delivery whose
	// turn is far parked; otherwise the intake waits for its lane, holding
	// up no one. Nil: always.
	OthersWaiting func(ctx context.Context, target string) (bool, error)
	Log           *zap.Logger
}

// Intake pulls one consumer and hands each delivery to the lane of its
// target (lane.go). It fetches only what its budget has room for, keeps
// every delivery it holds fresh (InProgress before AckWait can run out,
// calls in flight included) until the delivery ends, and is never held up
// by one target for longer than intakeWait: a delivery whose turn is far
// is parked (park.go). One intake per partition and stream; the targets
// cost it nothing while idle.
type Intake struct {
	cfg IntakeConfig

	mu     sync.Mutex
	held   map[*delivery]struct{}
	wanted bool
	roomy  chan struct{}

	batch fetched // the pull loop's own

	parking   chan struct{} // parks in flight (a semaphore)
	stopFetch context.CancelFunc
	fetchDone chan struct{}
	stopKeep  chan struct{}
	keepDone  chan struct{}
	closeOnce sync.Once
}

// delivery is a message an intake fetched, from the fetch to its end
// (acked, stored on, handed back, or left to redelivery).
type delivery struct {
	m     jetstream.Msg
	meta  *jetstream.MsgMetadata // nil: the message has none (not JetStream's)
	in    *Intake
	fresh atomic.Int64 // Unix ns of the last (re)start of its AckWait
	ended atomic.Bool
}

// done ends d: its intake stops keeping it and gets its budget back.
func (d *delivery) done() {
	if d.ended.CompareAndSwap(false, true) && d.in != nil {
		d.in.release(d)
	}
}

// parksInFlight bounds the parks an intake has in flight at once.
const parksInFlight = 16

// StartIntake starts pulling; Stop ends it.
func StartIntake(cfg IntakeConfig) (*Intake, error) {
	if cfg.Consumer == nil || cfg.Target == nil || cfg.Router == nil || cfg.Budget == nil || cfg.AckWait <= 0 {
		return nil, fmt.Errorf("%w: intake %s: consumer, target, router, budget and ack wait are required", ErrInvalidOption, cfg.Name)
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	cfg.Log = cfg.Log.With(zap.String("intake", cfg.Name))
	in := &Intake{
		cfg: cfg, held: map[*delivery]struct{}{}, roomy: make(chan struct{}), batch: fetched{counts: map[string]int{}},
		parking: make(chan struct{}, parksInFlight), fetchDone: make(chan struct{}),
		stopKeep: make(chan struct{}), keepDone: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.stopFetch = cancel
	go in.pull(ctx)
	go in.keeper()
	return in, nil
}

// StopFetching stops pulling and returns once the pull loop has ended;
// what the intake holds runs on, kept fresh.
func (in *Intake) StopFetching() {
	in.stopFetch()
	<-in.fetchDone
}

// Stop stops pulling, waits until every delivery held has ended or ctx is
// done, and stops keeping them fresh. Workers stopped before it hand back
// what waits and finish what runs.
func (in *Intake) Stop(ctx context.Context) {
	in.StopFetching()
	in.closeOnce.Do(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for in.Held() > 0 && ctx.Err() == nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
		close(in.stopKeep)
		<-in.keepDone
	})
}

// Held returns how many deliveries the intake holds.
func (in *Intake) Held() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.held)
}

// pull fetches what the budget has room for, until StopFetching.
func (in *Intake) pull(ctx context.Context) {
	defer close(in.fetchDone)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	failures := 0
	for ctx.Err() == nil {
		n, roomy := in.room()
		if n == 0 {
			select {
			case <-roomy:
			case <-ctx.Done():
			}
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, pullWait)
		batch, err := in.cfg.Consumer.Fetch(n, jetstream.FetchContext(fctx))
		if err == nil {
			in.drain(ctx, batch.Messages(), wait)
			err = batch.Error()
		}
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || ctx.Err() != nil {
			failures = 0
			continue
		}
		failures++
		in.cfg.Log.Warn("pull", zap.Error(err), zap.Int("failures", failures))
		select {
		case <-time.After(min(time.Duration(failures)*250*time.Millisecond, 5*time.Second)):
		case <-ctx.Done():
		}
	}
}

// pullWait bounds one pull request: an idle partition renews its pull this
// often (the server's heartbeats in between tell a lost request apart).
const pullWait = 5 * time.Second

// room returns how many deliveries the intake may fetch now when that is at
// least a quarter of its budget (so that a busy partition is fed in
// batches), or else 0 and a channel closed once it may be.
func (in *Intake) room() (int, <-chan struct{}) {
	in.mu.Lock()
	defer in.mu.Unlock()
	b := max(in.cfg.Budget(), 1)
	if n := b - len(in.held); n >= max(1, b/4) {
		return n, nil
	}
	in.wanted = true
	return 0, in.roomy
}

// route hands d (held since it was fetched) to its target's lane: taken, waited for (a full lane of a
// fast target, at most intakeWait), parked (a lane whose turn is far, when
// other targets wait; a paused target, always), or handed to the router
// when this instance does not serve the target.
func (in *Intake) route(ctx context.Context, d *delivery, target string, ok bool, wait *time.Timer) {
	m := d.m
	if !ok {
		in.cfg.Log.Error("delivery on a subject of no target; terminated", zap.String("subject", m.Subject()))
		_ = m.Term()
		d.done()
		return
	}
	w := in.cfg.Router.Worker(target)
	if w == nil {
		in.cfg.Router.Unserved(m, target, d.done)
		return
	}
	force := d.meta != nil && d.meta.NumDelivered > 1
	w.counts.delivered(force)
	for {
		v, roomy := w.lane.offer(d, force)
		switch v {
		case taken:
			return
		case paused:
			in.park(func() { w.parkPaused(d) })
			return
		case closed:
			// A worker retiring (a reload): redelivered at once, to its
			// successor or to whoever serves the target.
			w.handBack(m)
			d.done()
			return
		case park:
			if in.othersWaiting(ctx, target) {
				in.park(func() { w.parkBusy(d) })
				return
			}
		}
		wait.Reset(intakeWait)
		select {
		case <-roomy:
			wait.Stop()
		case <-wait.C:
			if in.othersWaiting(ctx, target) {
				in.park(func() { w.parkBusy(d) })
				return
			}
		case <-ctx.Done():
			wait.Stop()
			w.handBack(m)
			d.done()
			return
		}
	}
}

// othersWaiting reports whether another target's jobs wait behind target:
// fetched and not yet routed, or in the consumer (an error counts as yes).
func (in *Intake) othersWaiting(ctx context.Context, target string) bool {
	if in.cfg.OthersWaiting == nil || in.batch.others(target) {
		return true
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	others, err := in.cfg.OthersWaiting(qctx, target)
	if err != nil {
		in.cfg.Log.Debug("who waits in the partition: not known; parking", zap.String("target", target), zap.Error(err))
		return true
	}
	return others
}

// park runs a park (parkBusy, parkPaused) in the background, at most
// parksInFlight at once.
func (in *Intake) park(fn func()) {
	in.parking <- struct{}{}
	go func() {
		defer func() { <-in.parking }()
		fn()
	}()
}

// hold counts m against the budget and keeps it fresh until done.
func (in *Intake) hold(m jetstream.Msg) *delivery {
	d := &delivery{m: m, in: in}
	d.meta, _ = m.Metadata() // parsed once: admit and park read it
	d.fresh.Store(time.Now().UnixNano())
	in.mu.Lock()
	in.held[d] = struct{}{}
	in.mu.Unlock()
	return d
}

// release ends d's hold.
func (in *Intake) release(d *delivery) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.held, d)
	if in.wanted {
		b := max(in.cfg.Budget(), 1)
		if b-len(in.held) >= max(1, b/4) {
			close(in.roomy)
			in.roomy = make(chan struct{})
			in.wanted = false
		}
	}
}

// keeper refreshes, every keepEvery, each delivery held that has not been
// refreshed for a third of AckWait.
func (in *Intake) keeper() {
	defer close(in.keepDone)
	t := time.NewTicker(keepEvery(in.cfg.AckWait))
	defer t.Stop()
	var stale []*delivery
	for {
		select {
		case <-in.stopKeep:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		limit := int64(in.cfg.AckWait / 3)
		stale = stale[:0]
		in.mu.Lock()
		for d := range in.held {
			if now-d.fresh.Load() >= limit {
				stale = append(stale, d)
			}
		}
		in.mu.Unlock()
		for _, d := range stale {
			if !d.ended.Load() {
				d.fresh.Store(now)
				_ = d.m.InProgress()
			}
		}
		clear(stale)
	}
}

// keepEvery is how often held deliveries are looked at: a sixth of
// AckWait, so each is refreshed between a third and a half of it.
func keepEvery(ackWait time.Duration) time.Duration {
	return max(ackWait/6, 100*time.Millisecond)
}
