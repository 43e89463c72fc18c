package worker

import (
	"context"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
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
// breaker is open it waits for the end of the open timeout when that comes
// within half of AckWait, and is scheduled back for then otherwise (the
// consumer is paused until then, so the jobs behind it wait in the stream).
// Waiting deliveries are kept fresh; nothing is rescheduled in a loop. It
// reports true when the job should try for an endpoint again now.
func (w *Worker) holdJob(j *job) bool {
	now := w.o.now()
	if anyHalfOpen(w.breakers) {
		return w.await(j, w.t.Timeouts.Total+time.Second, w.breakerWake())
	}
	until := w.hold(holdFor(w.breakers, now))
	if wait := until.Sub(now); wait <= w.ackWait/2 {
		return w.await(j, wait, w.breakerWake())
	}
	w.scheduleAndAck(j, until, schemas.ParkHold, nil)
	return false
}

// hold pauses the target's consumer for d (when_open: hold) unless it is
// already paused, and returns when the pause ends. JetStream resumes the
// consumer by itself at that time, when the breaker may probe again; jobs
// meanwhile wait in the stream and nothing is attempted.
func (w *Worker) hold(d time.Duration) time.Time {
	now := w.o.now()
	if u := w.heldUntil.Load(); u > now.UnixNano() {
		return time.Unix(0, u)
	}
	until := now.Add(d)
	w.heldUntil.Store(until.UnixNano())
	if w.consumer == "" {
		return until
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := w.js.PauseConsumer(ctx, w.stream, w.consumer, until); err != nil {
		// Jobs then keep arriving and are scheduled back one by one.
		w.o.log.Warn("pause consumer", zap.Error(err))
		return until
	}
	w.o.log.Warn("consumer paused: every breaker open, when_open hold",
		zap.String("consumer", w.consumer), zap.Time("paused_until", until))
	return until
}
