package worker

import "go.uber.org/zap"

// A target's limits with limit_scope: fleet are the fleet's: each instance
// applies its quota of them, split exactly by the live instance count.

// SetFleetSize tells the worker how many instances are live (itself
// included) and its rank among them (0-based, in a order every instance
// agrees on). With LimitScopeFleet the worker takes its quota of
// Concurrency and RateLimit at once; with LimitScopeInstance it changes
// nothing. Calls already in flight finish.
func (w *Worker) SetFleetSize(n, rank int) {
	if w.t.LimitScope != LimitScopeFleet || n < 1 {
		return
	}
	rank = min(max(rank, 0), n-1)
	c := fleetQuota(w.t.Concurrency, n, rank)
	w.lane.setLimit(c)
	if w.limiter != nil {
		rl := w.t.RateLimit
		w.limiter.SetLimit(rateLimit(rl.PerSecond / float64(n)))
		w.limiter.SetBurst(fleetQuota(burstOf(rl), n, rank))
	}
	w.o.log.Info("fleet quota", zap.Int("instances", n), zap.Int("concurrency", c),
		zap.Float64("rate_per_second", w.rateQuota()))
}

// Limits returns the concurrency and calls per second (0: unlimited) this
// instance applies now: the configured figures, or its fleet quota.
func (w *Worker) Limits() (concurrency int, perSecond float64) {
	return w.lane.limitNow(), w.rateQuota()
}

func (w *Worker) rateQuota() float64 {
	if w.limiter == nil {
		return 0
	}
	return float64(w.limiter.Limit())
}

// fleetQuota splits total over n instances exactly: the first total%n ranks
// take one more; every instance takes at least 1.
func fleetQuota(total, n, rank int) int {
	s := total / n
	if rank < total%n {
		s++
	}
	return max(s, 1)
}

// burstOf is a rate limit's burst, per_second rounded up when unset.
func burstOf(rl *RateLimit) int {
	if rl.Burst > 0 {
		return rl.Burst
	}
	return max(1, int(rl.PerSecond+0.999))
}

// Held returns how many deliveries the worker's lane holds: running,
// waiting for a slot, and waiting for a retry made in place.
func (w *Worker) Held() int {
	running, waiting := w.lane.stats()
	return running + waiting
}
