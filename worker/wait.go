package worker

import (
	"time"
)

// await keeps the delivery of j waiting for at most d, or until wake is
// closed (nil: no wake); its intake keeps it fresh meanwhile. It reports
// false when the worker stopped meanwhile: the delivery was handed back.
func (w *Worker) await(j *job, d time.Duration, wake <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-w.stopping:
	case <-w.hardCtx.Done():
	}
	w.handBack(j.m)
	return false
}

// breakerWake returns a channel closed at the next breaker transition of
// any of the target's endpoints (or an adopted one).
func (w *Worker) breakerWake() <-chan struct{} { return *w.wake.Load() }

// breakersChanged wakes whoever waits on breakerWake.
func (w *Worker) breakersChanged() {
	ch := make(chan struct{})
	close(*w.wake.Swap(&ch))
}
