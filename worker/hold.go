package worker

import (
	"context"
	"time"

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

// holdJob schedules a job that found every breaker open (when_open: hold)
// back for when the breaker may probe again, pausing the consumer until
// then so the jobs behind it wait in the stream. Not an attempt.
func (w *Worker) holdJob(j *job) {
	var until time.Time
	if anyHalfOpen(w.breakers) {
		// A probe is under way: not open, only busy; try again soon.
		until = w.o.now().Add(250 * time.Millisecond)
	} else {
		until = w.hold(holdFor(w.breakers, w.o.now()))
	}
	if err := w.schedule(j, until); err != nil {
		w.o.log.Error("hold failed; job will be redelivered", zap.String("job_id", j.job.ID), zap.Error(err))
		return
	}
	w.ack(j.m, j.job.ID)
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
