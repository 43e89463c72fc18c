package worker

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// attempt is the second stage: pick the endpoint whose breaker lets a call
// through, make the call, classify its result and record it in the job's
// retry state. It returns false when no attempt was made: every breaker
// open (fallback or hold), or the call cut by shutdown (handed back). A
// hedged or second call would go here.
func (w *Worker) attempt(j *job) (*callResult, bool) {
	jb := j.job
	b, idx, done := pickEndpoint(w.breakers, w.o.now())
	for b == nil {
		if w.t.Breaker.WhenOpen != WhenOpenHold {
			w.circuitOpen(j)
			return nil, false
		}
		if !w.holdJob(j) || w.pausedPark(j) {
			return nil, false
		}
		b, idx, done = pickEndpoint(w.breakers, w.o.now())
	}
	w.noteEndpoint(idx)
	w.budget.call(w.o.now())
	total := w.t.Timeouts.Total
	if jb.TimeoutMS > 0 {
		total = min(total, time.Duration(jb.TimeoutMS)*time.Millisecond)
	}
	n := j.state.attempts + 1
	at := w.o.now()
	w.o.obs.AttemptStarted(w.t.Name, b.shown)
	res := w.do(w.hardCtx, b.endpoint, jb, n, j.tp, total)
	w.o.obs.AttemptDone(w.t.Name, b.shown, res.status, res.class, res.duration)
	if res.canceled {
		done(errBreakerExcluded)
		w.o.log.Info("call cut by shutdown; handed back", zap.String("job_id", jb.ID), zap.Int("attempt", n))
		w.handBack(j.m)
		return nil, false
	}
	outcome := breakerOutcome(res)
	done(outcome)
	w.budget.done(w.o.now(), !errors.Is(outcome, errBreakerFailure), res.duration)
	j.state.record(schemas.Attempt{
		Attempt: n, At: at.UTC(), Endpoint: b.shown, Status: res.status,
		ErrorClass: res.class, Error: res.errText, DurationMS: ms(res.duration), Sent: &res.sent,
	})
	j.host = b.host
	w.logAttempt(j, n, res)
	return res, true
}

// breakerOutcome is what an attempt's result tells the endpoint's breaker:
// nothing for answers that say nothing of the endpoint's health (a 4xx, an
// SSRF refusal, a job that could not become a request), a failure for
// everything else that is not a success.
func breakerOutcome(res *callResult) error {
	switch {
	case res.ok():
		return nil
	case res.class == schemas.ClassSSRFBlocked || res.class == schemas.ClassHTTP4xx || res.class == schemas.ClassInvalidJob:
		return errBreakerExcluded
	default:
		return errBreakerFailure
	}
}

func (w *Worker) logAttempt(j *job, attempt int, res *callResult) {
	lvl := zap.DebugLevel
	if !res.ok() {
		lvl = zap.WarnLevel
	}
	ce := w.o.log.Check(lvl, "attempt")
	if ce == nil {
		return
	}
	ce.Write(
		zap.String("job_id", j.job.ID), zap.String("trace_id", j.state.traceID), zap.String("upstream_host", j.host),
		zap.Int("attempt", attempt), zap.Int("status", res.status), zap.String("error_class", res.class),
		zap.String("error", res.errText), zap.Duration("duration", res.duration),
	)
}
