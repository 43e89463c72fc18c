package worker

import (
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// maxDeliveries bounds how often one copy of a job may be delivered without
// reaching an outcome (e.g. a worker that dies on it every time) before it is
// dead-lettered as exhausted.
const maxDeliveries = 20

// admit is the first stage: is this delivery a job that may be attempted
// now? In order: an outcome an earlier delivery of the same message
// already decided (its settle marker: that outcome is redone, whatever
// else is true now), size, decoding and the schema, the subject's target,
// the trace, then a pause of the target (parked: no check after it may
// drop or count the job while paused), not_after, the delivery count, the
// retry budget and the rate limit. It returns false when it disposed of
// the delivery itself (a dead letter, an ack, a park, a postponement, a
// hand-back).
func (w *Worker) admit(d *delivery) (*job, bool) {
	m, meta := d.m, d.meta
	if meta == nil {
		w.o.log.Error("message without JetStream metadata", zap.String("subject", m.Subject()))
		w.term(m)
		return nil, false
	}
	data := m.Data()
	j, trusted := w.newJob(d)
	if !trusted {
		w.o.log.Debug("retry state without a valid MAC ignored: a fresh job", zap.String("key", j.key))
	}

	var settled *settleIntent
	if meta.NumDelivered > 1 {
		// An earlier delivery may have decided this job's outcome and died
		// before its ack: deciding again could fork the job.
		settled = w.settledBefore(j)
		if settled != nil && settled.Invalid {
			w.redo(j, settled)
			return nil, false
		}
	}
	if n := len(data) + carriedHeaderBytes(m.Headers()); n > w.sec.MaxJobBytes {
		w.invalid(j, fmt.Sprintf("job is %d bytes with its headers, over security.max_job_bytes %d", n, w.sec.MaxJobBytes))
		return nil, false
	}
	jb, err := schemas.DecodeJob(data)
	if err != nil {
		w.invalid(j, err.Error())
		return nil, false
	}
	j.job = jb
	if jb.Target != "" && jb.Target != w.t.Name {
		w.invalid(j, fmt.Sprintf("invalid job: field \"target\": %q does not match the subject's target %q", jb.Target, w.t.Name))
		return nil, false
	}
	if escapesBase(jb.EffectivePath()) {
		w.invalid(j, fmt.Sprintf("invalid job: field \"path\": %q climbs above the endpoint's base path with dot-segments", jb.EffectivePath()))
		return nil, false
	}
	if why := w.replyTo.refuse(jb.ReplyTo); why != "" {
		w.invalid(j, "invalid job: field \"reply_to\": "+why)
		return nil, false
	}
	j.state.traceID, j.tp = jobTrace(j.state.traceID, jb.TraceID, m.Headers().Get("Traceparent"))

	if settled != nil {
		w.redo(j, settled)
		return nil, false
	}
	if w.pausedPark(j) {
		return nil, false
	}
	if jb.NotAfter != nil && w.o.now().After(*jb.NotAfter) {
		w.deadLetter(j, schemas.ReasonExpired, schemas.ClassExpired, "not_after "+jb.NotAfter.UTC().Format(time.RFC3339)+" has passed", lastStatus(j.state))
		return nil, false
	}
	// The limit is never below maxDeliveries: asked only past that (it
	// takes the fleet's lock).
	if meta.NumDelivered > maxDeliveries && meta.NumDelivered > uint64(w.deliveryLimit()) {
		w.deadLetter(j, schemas.ReasonExhausted, lastClass(j.state), fmt.Sprintf("delivered %d times without an outcome", meta.NumDelivered), lastStatus(j.state))
		return nil, false
	}
	return j, w.mayCall(j)
}

// mayCall is the end of admit, passed again by a job resumed after a retry
// made in place: a pause of the target, the retry budget, then the rate
// limit (waited for), and a pause that began meanwhile.
func (w *Worker) mayCall(j *job) bool {
	if w.pausedPark(j) {
		return false
	}
	if j.state.attempts > 0 {
		if ok, next := w.budget.allowRetry(w.o.now()); !ok {
			// Spread the postponed retries over the next bucket.
			w.postpone(j, next.Add(rand.N(budgetBucket)))
			return false
		}
	}
	return w.waitRate(j) && !w.pausedPark(j)
}

func lastStatus(s retryState) int {
	if n := len(s.history); n > 0 {
		return s.history[n-1].Status
	}
	return 0
}

func lastClass(s retryState) string {
	if n := len(s.history); n > 0 && s.history[n-1].ErrorClass != "" {
		return s.history[n-1].ErrorClass
	}
	return schemas.ClassTimeoutTotal
}

// deliveryLimit is how often a job may be delivered without an outcome:
// maxDeliveries, times the deliveries that went to instances not serving
// its target for each one that came here (WithDeliverySpread).
func (w *Worker) deliveryLimit() int {
	if w.o.spread == nil {
		return maxDeliveries
	}
	return maxDeliveries * max(1, w.o.spread(w.t.Name))
}
