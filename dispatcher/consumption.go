package dispatcher

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// How this instance consumes: through streams.partitions partitions, each
// a durable consumer on the jobs stream and one on the scheduling stream,
// shared by every instance. Each has an intake (worker/intake.go) that
// hands its deliveries to the lanes of their targets; the workers are
// state, not consumers or goroutines, so an idle target costs next to
// nothing. A delivery of a target this instance does not serve goes back
// to the others (a rolling deploy) or, when no live instance serves it,
// is an orphan (Unserved).
type consumption struct {
	s *Service
	n int // partitions

	workers atomic.Pointer[map[string]*worker.Worker] // by target: the router's view
	budgets atomic.Pointer[[]int]                     // by partition

	mu      sync.Mutex
	intakes []*worker.Intake

	unserved chan struct{} // Unserved handlings in flight (a semaphore)
}

var _ worker.Router = (*consumption)(nil)

// Budgets of a partition's intake: what its targets' lanes hold
// (worker.LaneCapacity), within [minBudget, maxBudget].
const (
	minBudget = 64
	maxBudget = 4096
)

// maxUnserved bounds the unserved deliveries handled at once.
const maxUnserved = 16

func newConsumption(s *Service, n int) *consumption {
	c := &consumption{s: s, n: max(n, 1), unserved: make(chan struct{}, maxUnserved)}
	c.setWorkers(map[string]*worker.Worker{})
	return c
}

// Worker implements worker.Router.
func (c *consumption) Worker(target string) *worker.Worker { return (*c.workers.Load())[target] }

// setWorkers makes ws (by target) the workers deliveries go to, and sizes
// the partitions' budgets for their targets.
func (c *consumption) setWorkers(ws map[string]*worker.Worker) {
	cp := make(map[string]*worker.Worker, len(ws))
	budgets := make([]int, c.n)
	for name, w := range ws {
		cp[name] = w
		budgets[schemas.Partition(name, c.n)] += worker.LaneCapacity(w.Target().Concurrency)
	}
	for k := range budgets {
		budgets[k] = min(max(budgets[k], minBudget), maxBudget)
	}
	c.workers.Store(&cp)
	c.budgets.Store(&budgets)
}

// budget is the budget of partition k's intakes.
func (c *consumption) budget(k int) func() int {
	return func() int { return (*c.budgets.Load())[k] }
}

// start creates the partitions' consumers and starts their intakes.
func (c *consumption) start(ctx context.Context) error {
	var jobs, due []jetstream.Consumer
	err := c.s.retry(ctx, "partition consumers not ready; retrying", func(ctx context.Context) error {
		var err error
		jobs, due, err = EnsurePartitions(ctx, c.s.js, c.s.topo, c.n)
		return err
	})
	if err != nil {
		return err
	}
	topo := c.s.topo
	target := func(subject string) (string, bool) {
		_, t, ok := topo.PartTarget(subject)
		return t, ok
	}
	var streams [2]jetstream.Stream
	for i, name := range []string{topo.JobsStream(), topo.SchedStream()} {
		if streams[i], err = c.s.js.Stream(ctx, name); err != nil {
			return err
		}
	}
	for k := range c.n {
		for i, cons := range []jetstream.Consumer{jobs[k], due[k]} {
			name, subject := "jobs-", func(t string) string { return topo.PartSubject(k, t) }
			if i == 1 {
				name, subject = "due-", func(t string) string { return topo.DuePartSubject(k, t) }
			}
			if err := c.add(worker.IntakeConfig{
				Name: name + strconv.Itoa(k), Consumer: cons, Target: target, Router: c,
				Budget: c.budget(k), AckWait: worker.AckWait, Log: c.s.log,
				OthersWaiting: c.othersWaiting(cons, streams[i], subject),
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// othersWaiting tells an intake whether jobs of targets other than target
// wait in its consumer, not yet delivered: the consumer's pending less
// target's own (its messages stored on subject(target), less those this
// instance holds). Other instances' holds of target count as waiting: the
// answer errs towards parking. An answer is kept for othersFresh.
func (c *consumption) othersWaiting(cons jetstream.Consumer, st jetstream.Stream, subject func(string) string) func(context.Context, string) (bool, error) {
	var (
		mu     sync.Mutex
		last   string
		at     time.Time
		answer bool
	)
	return func(ctx context.Context, target string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if target == last && time.Since(at) < othersFresh {
			return answer, nil
		}
		ci, err := cons.Info(ctx)
		if err != nil {
			return true, err
		}
		subj := subject(target)
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
		if err != nil {
			return true, err
		}
		mine := info.State.Subjects[subj]
		if w := c.Worker(target); w != nil {
			mine -= min(mine, uint64(w.Held()))
		}
		last, at, answer = target, time.Now(), ci.NumPending > mine
		return answer, nil
	}
}

// othersFresh is how long an answer of othersWaiting is used.
const othersFresh = 250 * time.Millisecond

// add starts an intake.
func (c *consumption) add(cfg worker.IntakeConfig) error {
	in, err := worker.StartIntake(cfg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.intakes = append(c.intakes, in)
	c.mu.Unlock()
	return nil
}

// stopFetching stops every intake's pulls; what they hold runs on.
func (c *consumption) stopFetching() {
	c.mu.Lock()
	ins := append([]*worker.Intake(nil), c.intakes...)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Add(1)
		go func() { defer wg.Done(); in.StopFetching() }()
	}
	wg.Wait()
}

// stop waits, within ctx, for every delivery held to end (after the
// workers stopped), then stops the intakes.
func (c *consumption) stop(ctx context.Context) {
	c.mu.Lock()
	ins := c.intakes
	c.intakes = nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Add(1)
		go func() { defer wg.Done(); in.Stop(ctx) }()
	}
	wg.Wait()
}

// Unserved implements worker.Router: a delivery of a target this instance
// does not serve. While another live instance serves it, or that cannot be
// told yet, it is handed back with a short delay (another instance takes
// it; worker.WithDeliverySpread allows for the extra deliveries). When no
// live instance has served it for orphan_grace and the job is that old, it
// is dead-lettered unknown_target (orphans.go); before, it waits in the
// stream until then.
func (c *consumption) Unserved(m jetstream.Msg, target string, done func()) {
	select {
	case c.unserved <- struct{}{}:
	default:
		nak(m, c.s.log, bounceDelay())
		done()
		return
	}
	go func() {
		defer func() { <-c.unserved; done() }()
		c.handleUnserved(m, target)
	}()
}

func (c *consumption) handleUnserved(m jetstream.Msg, target string) {
	since, ok := c.s.fleet.unserved(target)
	if !ok {
		nak(m, c.s.log, bounceDelay())
		return
	}
	grace := c.s.cfg.OrphanGrace
	wait := grace - time.Since(since)
	meta, err := m.Metadata()
	if err == nil {
		wait = max(wait, grace-time.Since(meta.Timestamp))
	}
	if wait > 0 {
		nak(m, c.s.log, wait+bounceDelay())
		return
	}
	key := ""
	if meta != nil {
		key = schemas.DeliveryKey(meta.Stream, meta.Sequence.Stream)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.s.sweeper.orphan(ctx, target, m.Data(), key); err != nil {
		c.s.log.Warn("orphan not dead-lettered; will be redelivered", zap.String("target", target), zap.Error(err))
		nak(m, c.s.log, bounceDelay())
		return
	}
	if err := m.Ack(); err != nil {
		c.s.log.Warn("ack", zap.Error(err))
	}
}

// bounceDelay is how long a delivery handed back to the fleet waits: about
// a second, spread.
func bounceDelay() time.Duration {
	return 500*time.Millisecond + rand.N(time.Second)
}

func nak(m jetstream.Msg, log *zap.Logger, d time.Duration) {
	if err := m.NakWithDelay(d); err != nil {
		log.Warn("hand back", zap.Error(err))
	}
}
