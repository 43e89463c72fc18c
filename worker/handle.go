package worker

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// job is one delivery being handled, from admit to settle.
type job struct {
	m     jetstream.Msg
	d     *delivery // m as its intake holds it
	key   string    // stream and sequence of this delivery (schemas.DeliveryKey), the key of its outcome
	job   *schemas.Job
	state retryState
	tp    string // traceparent sent with the call; the trace id is state.traceID
	host  string // upstream host of the last attempt
	start time.Time
	// inPlace counts the retries of this delivery made in place.
	inPlace int
}

// newJob is the job of delivery d (its metadata not nil) as its headers
// tell it: its key and its retry state, trusted only with a valid MAC
// (statemac.go). The body is not decoded yet.
func (w *Worker) newJob(d *delivery) (j *job, trusted bool) {
	j = &job{m: d.m, d: d, start: w.o.now(), key: schemas.DeliveryKey(d.meta.Stream, d.meta.Sequence.Stream)}
	j.state, trusted = w.trustedState(d.m.Headers(), d.m.Data())
	return j, trusted
}

// handle runs one delivery through the pipeline: admit (is it a job we may
// attempt now?), attempt (one call to one endpoint), settle (what the
// result means: decide, then its effects). Each stage that disposes of the
// delivery itself (a dead letter at admit, a fallback at attempt) ends it.
// A job resumed after a retry made in place (resume not nil) skips what
// admit found out already and passes its checks of the moment again. It
// reports whether the delivery was kept for later (a retry made in place);
// otherwise the delivery has ended.
func (w *Worker) handle(d *delivery, resume *job) (kept bool) {
	j, ok := resume, true
	if j == nil {
		j, ok = w.admit(d)
	} else {
		ok = w.mayCall(j)
	}
	if !ok {
		return false
	}
	res, ok := w.attempt(j)
	if !ok {
		return false
	}
	return w.settle(j, res)
}

// settle decides what the attempt's result means and carries it out. It
// reports whether the delivery was kept (a retry made in place).
func (w *Worker) settle(j *job, res *callResult) (kept bool) {
	act := decide(j.state, res, w.settlement(j.job), w.o.now())
	switch act.kind {
	case actDeliver:
		w.delivered(j, res)
	case actRetry:
		if act.delay <= inPlaceRetry && j.inPlace < maxInPlace && w.lane.delay(j, act.at) {
			j.inPlace++
			w.retried(j, res, act, "retry in place")
			return true
		}
		w.retry(j, res, act)
	case actDeadLetter:
		w.deadLetter(j, act.reason, act.class, act.errText, act.status)
	}
	return false
}

// settlement is what decide needs to know of the target and the job.
func (w *Worker) settlement(jb *schemas.Job) settlement {
	s := settlement{retry: w.t.Retry, maxAttempts: w.t.Retry.MaxAttempts, notAfter: jb.NotAfter, method: jb.EffectiveMethod()}
	if jb.MaxAttempts > 0 {
		s.maxAttempts = min(s.maxAttempts, jb.MaxAttempts)
	}
	return s
}

func (j *job) firstOrStart() time.Time {
	if !j.state.first.IsZero() {
		return j.state.first
	}
	return j.start
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
