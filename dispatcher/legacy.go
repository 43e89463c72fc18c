package dispatcher

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// Upgrading from the per-target consumption. Releases before partitions
// consumed each target through its own durable consumers: dispatch_<t> on
// the jobs stream (filter <p>.jobs.<t>) and dispatch_due_<t> on the
// scheduling stream (filter <p>.due.<t>). Once a partitioned instance has
// set the streams' subject transforms, new jobs and fired copies land in
// the partitions; what was stored before stays on the old subjects, where
// only those consumers reach it. So every partitioned instance drains the
// old consumers of the targets it serves, through intakes like the
// partitions' (the same lanes, the same outcomes, no job taken twice: a
// WorkQueue stream delivers each message to one consumer), and removes an
// old consumer once it is empty and no live instance consumes per target
// any more (old instances during a rolling deploy still pull from it).
// Jobs stored on the old subjects of targets no instance serves are the
// orphan sweeper's, as before.

// legacyEvery is how often the old consumers are looked at: every 5
// heartbeats, at most every 10s.
func (s *Service) legacyEvery() time.Duration {
	return min(5*s.cfg.Fleet.Heartbeat, 10*time.Second)
}

// The same goes for the consumers of partitions beyond streams.partitions
// after K was lowered (contract 1.4): drained, then removed once empty and
// no live instance runs with more partitions.

// legacyConsumer is an old consumer found at start: a target's (target
// set), or a partition's beyond K (partition >= 0).
type legacyConsumer struct {
	stream, name, target string
	partition            int
	in                   *worker.Intake // nil: its target is not served here
}

// drainLegacy finds the old consumers, starts an intake on each of a
// target served here, and returns a func that stops the janitor that
// removes them (bounded: it waits for the janitor's end).
func (s *Service) drainLegacy(ctx context.Context) (stop func(), err error) {
	olds, err := s.findLegacy(ctx)
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 {
		return func() {}, nil
	}
	for i := range olds {
		o := &olds[i]
		target, budget := oneToken(s.topo.JobsTarget), func() int { return minBudget }
		if o.stream == s.topo.SchedStream() {
			target = oneToken(s.topo.DueTarget)
		}
		if o.partition >= 0 {
			target = func(subject string) (string, bool) {
				_, t, ok := s.topo.PartTarget(subject)
				return t, ok
			}
		} else {
			w := s.cons.Worker(o.target)
			if w == nil {
				continue
			}
			conc := w.Target().Concurrency
			budget = func() int { return worker.LaneCapacity(conc) }
		}
		cons, err := s.js.Consumer(ctx, o.stream, o.name)
		if err != nil {
			return nil, err
		}
		in, err := worker.StartIntake(worker.IntakeConfig{
			Name: "drain-" + o.name, Consumer: cons, Target: target, Router: s.cons,
			Budget: budget, AckWait: cons.CachedInfo().Config.AckWait, Log: s.log,
		})
		if err != nil {
			return nil, err
		}
		o.in = in
	}
	s.log.Info("draining the consumers of the per-target consumption, or of partitions beyond streams.partitions", zap.Int("consumers", len(olds)))
	jctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.legacyJanitor(jctx, olds)
	}()
	return func() { cancel(); <-done }, nil
}

// oneToken narrows a subject's target to one token: <p>.jobs.a.b is no
// target's subject.
func oneToken(target func(string) (string, bool)) func(string) (string, bool) {
	return func(subject string) (string, bool) {
		t, ok := target(subject)
		return t, ok && !strings.Contains(t, ".")
	}
}

// findLegacy lists the old consumers on the jobs and scheduling streams:
// the targets' of the per-target consumption, and the partitions' beyond
// this instance's K.
func (s *Service) findLegacy(ctx context.Context) ([]legacyConsumer, error) {
	var out []legacyConsumer
	for _, src := range []struct {
		stream, prefix string
		due            bool
	}{
		{s.topo.JobsStream(), s.topo.ConsumerName(""), false},
		{s.topo.SchedStream(), s.topo.DueConsumerName(""), true},
	} {
		st, err := s.js.Stream(ctx, src.stream)
		if err != nil {
			return nil, err
		}
		names := st.ConsumerNames(ctx)
		for name := range names.Name() {
			if k, ok := s.topo.PartConsumerIndex(name, src.due); ok {
				if k >= s.cons.n {
					out = append(out, legacyConsumer{stream: src.stream, name: name, partition: k})
				}
				continue
			}
			t, ok := strings.CutPrefix(name, src.prefix)
			if ok && schemas.ValidTarget(t) {
				out = append(out, legacyConsumer{stream: src.stream, name: name, target: t, partition: -1})
			}
		}
		if err := names.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// legacyJanitor removes each old consumer once it is empty (nothing
// pending, nothing delivered and unacked) and no live instance consumes
// per target, until none is left or ctx is done.
func (s *Service) legacyJanitor(ctx context.Context, olds []legacyConsumer) {
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), s.stopBudget())
		defer cancel()
		for _, o := range olds {
			if o.in != nil {
				o.in.Stop(sctx)
			}
		}
	}()
	t := time.NewTicker(s.legacyEvery())
	defer t.Stop()
	for len(olds) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		perTarget, most := s.fleet.perTargetLive(), s.fleet.mostPartitions()
		left := olds[:0]
		for _, o := range olds {
			if (o.partition < 0 && perTarget) || (o.partition >= 0 && o.partition < most) || !s.removeIfDrained(ctx, o) {
				left = append(left, o)
			}
		}
		olds = left
	}
	s.log.Info("the consumers of the per-target consumption, or of partitions beyond streams.partitions, are drained and removed")
}

// removeIfDrained deletes o's consumer when it is empty, after stopping
// its intake; it reports whether o is gone.
func (s *Service) removeIfDrained(ctx context.Context, o legacyConsumer) bool {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := s.js.Consumer(cctx, o.stream, o.name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return true // another instance removed it
	}
	if err != nil {
		return false
	}
	ci := cons.CachedInfo()
	if ci.NumPending > 0 || ci.NumAckPending > 0 {
		return false
	}
	if o.in != nil {
		o.in.Stop(cctx)
	}
	if err := s.js.DeleteConsumer(cctx, o.stream, o.name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		s.log.Warn("old consumer not removed", zap.String("consumer", o.name), zap.Error(err))
		return false
	}
	s.log.Info("old consumer drained and removed", zap.String("stream", o.stream), zap.String("consumer", o.name))
	return true
}
