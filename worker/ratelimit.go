package worker

import (
	"math"

	"golang.org/x/time/rate"
)

// rateLimit converts calls per second to a rate.Limit (at least one call
// an hour, so that a tiny fleet quota never means "never").
func rateLimit(perSecond float64) rate.Limit {
	return rate.Limit(math.Max(perSecond, 1.0/3600))
}

// waitRate waits for the rate limiter's permission to call, keeping the
// delivery's AckWait fresh meanwhile. It reports false when the worker is
// stopping and the job was handed back instead.
func (w *Worker) waitRate(j *job) bool {
	if w.limiter == nil {
		return true
	}
	r := w.limiter.Reserve()
	if r.Delay() > 0 {
		w.counts.rateWaits.Add(1)
	}
	if !w.await(j, r.Delay(), nil) {
		r.Cancel()
		return false
	}
	return true
}
