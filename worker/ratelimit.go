package worker

import (
	"math"
	"time"

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
	d := r.Delay()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(max(w.ackWait/3, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-tick.C:
			_ = j.m.InProgress()
		case <-w.stopping:
			r.Cancel()
			w.handBack(j.m)
			return false
		case <-w.hardCtx.Done():
			r.Cancel()
			w.handBack(j.m)
			return false
		}
	}
}
