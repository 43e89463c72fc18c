package worker

import (
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// anyHalfOpen reports whether an endpoint's breaker is half-open (probing).
func anyHalfOpen(bs []*endpointBreaker) bool {
	for _, b := range bs {
		if b.cb.State() == gobreaker.StateHalfOpen {
			return true
		}
	}
	return false
}

// holdJob deals with a job that found every breaker open (when_open:
// hold). Not an attempt. While a probe is out (a breaker half-open) it
// waits for the probe's outcome, at most one call's time; while every
// breaker is open it waits for the end of the hold when that comes within
// laneWait, and is parked until then otherwise: the partition its
// delivery came from goes on with the other targets' jobs. Waiting
// deliveries are kept fresh; each job is parked at most once per hold. It
// reports true when the job should try for an endpoint again now.
func (w *Worker) holdJob(j *job) bool {
	now := w.o.now()
	if anyHalfOpen(w.breakers) {
		return w.await(j, w.t.Timeouts.Total+time.Second, w.breakerWake())
	}
	until := w.hold(holdFor(w.breakers, now))
	if wait := until.Sub(now); wait <= laneWait {
		return w.await(j, wait, w.breakerWake())
	}
	j.state.parks++
	w.scheduleAndAck(j, until, schemas.ParkHold, nil)
	return false
}

// hold returns when the hold that began when every breaker opened ends
// (d from now, for the first job that finds them so): every job held
// meanwhile is due then, when the breaker may probe again.
func (w *Worker) hold(d time.Duration) time.Time {
	now := w.o.now()
	if u := w.heldUntil.Load(); u > now.UnixNano() {
		return time.Unix(0, u)
	}
	until := now.Add(d)
	w.heldUntil.Store(until.UnixNano())
	w.o.log.Warn("every breaker open, when_open hold: jobs parked until the hold ends", zap.Time("held_until", until))
	return until
}
