package worker

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// A retry, a postponement (the retry budget) and a hold all carry a job on
// to a later delivery: a scheduled copy of it, or — for a retry due within
// a second — the same delivery, waited out in place.

// retry stores the job's next attempt as a scheduled copy, then acks.
func (w *Worker) retry(j *job, res *callResult, act action) {
	if w.scheduleAndAck(j, act.at, "", nil) {
		w.retried(j, res, act, "retry scheduled")
	}
}

// inPlaceRetry is the longest retry delay waited out in place: the
// delivery kept (fresh, without a slot) and attempted again when due, with
// no scheduled copy — the server fires schedules no sooner than 250 ms,
// each a publish. At most maxInPlace retries of one delivery are made so;
// the next is a scheduled copy, which carries the attempts made. A crash
// in the wait forgets the attempts made in place since the delivery came
// (at most maxInPlace; with the default 1s first interval, one): the
// redelivered copy, with the same Idempotency-Key, may be tried that many
// times more.
const (
	inPlaceRetry = time.Second
	maxInPlace   = 3
)

// retried logs (as msg) and counts a retry: scheduled, or made in place
// (lane.delay).
func (w *Worker) retried(j *job, res *callResult, act action, msg string) {
	w.o.obs.RetryScheduled(w.t.Name, res.class, act.delay)
	w.o.log.Info(msg,
		zap.String("job_id", j.job.ID), zap.String("trace_id", j.state.traceID), zap.String("upstream_host", j.host),
		zap.Int("attempt", j.state.attempts), zap.String("error_class", res.class), zap.Int("status", res.status),
		zap.Duration("duration", res.duration), zap.Duration("retry_delay", act.delay), zap.Time("next_attempt_at", act.at))
}

// scheduleAndAck stores j's next delivery as a scheduled copy due at `at`,
// then acks; park says why when it is no retry (schemas.ParkReasons). The
// settle marker is written first, unless in is the one an earlier delivery
// wrote (a redo). It reports whether the delivery was acked.
func (w *Worker) scheduleAndAck(j *job, at time.Time, park string, in *settleIntent) bool {
	msgID := "sched:" + w.t.Name + ":" + j.key
	if in == nil {
		in = &settleIntent{Kind: settleSchedule, MsgID: msgID, At: at, Park: park}
		if !w.mark(j, in, j.job.ID) {
			return false
		}
	}
	if err := w.schedule(j, at, msgID); err != nil {
		// Not stored: leave the message un-acked so JetStream redelivers it
		// after AckWait; nothing is lost.
		w.o.log.Error("schedule failed; job will be redelivered", zap.String("job_id", j.job.ID), zap.Error(err))
		return false
	}
	crashAfterStore(settleSchedule)
	if park != "" {
		w.o.obs.Parked(w.t.Name, park)
	}
	w.ack(j.m, j.job.ID)
	return true
}

// schedule stores the job's next delivery as a JetStream scheduled message on
// <p>.sched.<target>.<key> that fires onto <p>.due.<target> at next.
func (w *Worker) schedule(j *job, next time.Time, msgID string) error {
	m := nats.NewMsg(w.o.topo.SchedSubject(w.t.Name, j.key))
	for k, vs := range j.m.Headers() {
		// NATS's own headers stay behind, and so do ours (the retry state,
		// which write sets afresh), except the replay mark.
		if strings.HasPrefix(k, "Nats-") || (strings.HasPrefix(k, "Dispa") && k != schemas.HeaderReplayOf) {
			continue
		}
		m.Header[k] = vs
	}
	j.state.write(m.Header)
	m.Header.Set("Nats-Schedule", "@at "+next.UTC().Format(time.RFC3339Nano))
	m.Header.Set("Nats-Schedule-Target", w.dueSubj)
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	m.Data = j.m.Data()
	w.signState(m.Header, j.key, m.Data) // its size counted by the fit...
	fitHistory(m, w.nc.MaxPayload())
	w.signState(m.Header, j.key, m.Data) // ...its MAC over what is sent
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.rec.Schedule(ctx, m)
}
