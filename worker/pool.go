package worker

import (
	"context"
	"time"
)

// A worker takes deliveries from the partitions' intakes (intake.go) as
// soon as New returns; Stop ends it.

// Stop stops taking deliveries, hands back what waits for a slot, stores
// what waits for a retry made in place as scheduled copies, lets in-flight
// calls finish until ctx is done, then cancels what is left and hands it
// back for redelivery. It returns when every goroutine of the worker has
// ended.
func (w *Worker) Stop(ctx context.Context) {
	w.stopOnce.Do(func() {
		defer close(w.closed)
		close(w.stopping)
		waiting, delayed := w.lane.close()
		for _, d := range waiting {
			w.handBack(d.m)
			d.done()
		}
		for _, h := range delayed {
			// A retry waited out in place: stored as a scheduled copy, so
			// that its attempts stay counted.
			w.scheduleAndAck(h.j, h.at, "", nil)
			h.d.done()
		}
		done := make(chan struct{})
		go func() { w.lane.wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			w.o.log.Warn("shutdown timeout: cancelling in-flight calls")
			w.hardStop()
			<-done
		}
		w.hardStop()
		w.releaseClient()
	})
}

// Closed is closed once Stop has finished.
func (w *Worker) Closed() <-chan struct{} { return w.closed }

// AckWait is the AckWait of the consumers the service creates: a
// delivery held is refreshed with InProgress every third of it — waiting
// for a slot, a rate-limit token or a probe, and in a call — so it only
// bounds how long a crashed instance's deliveries wait for redelivery.
const AckWait = 30 * time.Second

// LegacyAckWait is the AckWait of target t's own consumers, which versions
// before partitions created (a call, at most one total timeout, with a
// wide margin): the service drains them (a redelivery from one comes that
// late).
func LegacyAckWait(t Target) time.Duration {
	return 4*t.withDefaults().Timeouts.Total + 10*time.Second
}
