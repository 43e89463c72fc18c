package worker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// The effects of the pipeline's decisions: acks, scheduled copies, records
// and results. A delivery is acked only once what carries the job on (a
// scheduled copy) or records its end (a dead letter, a fallback record) is
// stored, each announced by a settle marker first (settle.go); when storing
// fails the delivery is left for JetStream to redeliver after AckWait.

// ack acks m, the delivery of job jobID, once its outcome is settled; a
// failure only logs (JetStream redelivers the job after AckWait).
func (w *Worker) ack(m jetstream.Msg, jobID string) {
	if err := m.Ack(); err != nil {
		w.o.log.Warn("ack", zap.String("job_id", jobID), zap.Error(err))
	}
}

// HandBackDelay is how long a message handed back waits before it is
// redelivered. An immediate Nak at shutdown could be redelivered by the
// server to this instance's own pull request, cancelled a moment before:
// nats.go unsubscribes a cancelled fetch after it closes its channel, so
// the Nak may reach the server first, and the message would then wait for
// AckWait (30s) instead of going to another instance. Measured in
// TestProcessGracefulShutdown: 12 of 20 jobs waited AckWait under load.
const HandBackDelay = 500 * time.Millisecond

// term ends a delivery that can never be handled.
func (w *Worker) term(m jetstream.Msg) {
	if err := m.Term(); err != nil {
		w.o.log.Warn("term", zap.Error(err))
	}
}

// handBack returns a message that will not be processed here for prompt
// redelivery (shutdown and a retiring worker only: retries never use a Nak),
// after HandBackDelay.
func (w *Worker) handBack(m jetstream.Msg) {
	if err := m.NakWithDelay(HandBackDelay); err != nil {
		w.o.log.Warn("hand back", zap.Error(err))
	}
}

// delivered ends a job whose call succeeded.
func (w *Worker) delivered(j *job, res *callResult) {
	jb := j.job
	w.o.obs.JobEnded(w.t.Name, schemas.OutcomeDelivered, "")
	w.publishResult(jb.ReplyTo, &schemas.Result{
		JobID: jb.ID, Target: w.t.Name, Outcome: schemas.OutcomeDelivered, Status: res.status,
		Attempts: j.state.attempts, DurationMS: ms(w.o.now().Sub(j.firstOrStart())), Body: string(res.body),
		TraceID: j.state.traceID, Meta: jb.Meta,
	})
	w.ack(j.m, jb.ID)
}

// recordTimeout bounds how long storing a record may keep trying: half of
// AckWait, so a refused record (a full dead-letter stream, say) leaves the
// job to JetStream's redelivery instead of racing a second copy of it.
func (w *Worker) recordTimeout() time.Duration { return max(AckWait/2, 5*time.Second) }

// recordRefused ends a delivery whose record the server refuses for its
// size even cut to its minimum (schemas.ErrTooLarge): no redelivery could
// store it, so the job ends without one — logged, counted, terminated. It
// reports false, doing nothing, for any other failure (a full stream, no
// responders, a timeout), which leaves the job for redelivery.
func (w *Worker) recordRefused(m jetstream.Msg, jobID, record string, err error) bool {
	if !errors.Is(err, schemas.ErrTooLarge) {
		return false
	}
	w.o.log.Error("record too large even cut to its minimum; job terminated without one",
		zap.String("job_id", jobID), zap.String("record", record), zap.Error(err))
	w.o.obs.RecordTooLarge(w.t.Name, record)
	w.term(m)
	return true
}

// invalid dead-letters a payload that is not a valid job for this target.
func (w *Worker) invalid(j *job, why string) {
	in := &settleIntent{Kind: settleDeadLetter, MsgID: "dlq:" + w.t.Name + ":" + j.key, Invalid: true,
		Reason: schemas.ReasonInvalid, Class: schemas.ClassInvalidJob, Error: why}
	rec, jobID, replyTo, meta := w.invalidRecord(j, why)
	// The publisher learns of its mistake when it left a usable reply_to;
	// an id that is no job id is replaced by the dead letter's msg id.
	resultID := jobID
	if !schemas.ValidJobID(resultID) {
		resultID = in.MsgID
	}
	in.ReplyTo = replyTo
	in.Result = w.encodeResult(replyTo, &schemas.Result{
		JobID: resultID, Target: w.t.Name, Outcome: schemas.OutcomeDeadLettered, Attempts: j.state.attempts,
		ErrorClass: schemas.ClassInvalidJob, Error: why, TraceID: rec.TraceID, Meta: meta,
	})
	w.o.log.Warn("invalid job dead-lettered", zap.String("job_id", jobID), zap.String("reason", why), zap.String("key", j.key))
	if !w.mark(j, in, jobID) {
		return
	}
	w.storeDeadLetter(j, rec, jobID, in)
}

// invalidRecord is the dead letter of a payload that is not a valid job,
// with what could be read of it: its id, reply_to and meta.
func (w *Worker) invalidRecord(j *job, why string) (rec *schemas.DeadLetter, jobID, replyTo string, meta json.RawMessage) {
	data := j.m.Data()
	rec = &schemas.DeadLetter{
		Target: w.t.Name, Reason: schemas.ReasonInvalid, ErrorClass: schemas.ClassInvalidJob, Error: why,
		Attempts: j.state.attempts, History: j.state.history, DeadAt: w.o.now().UTC(),
		ServiceName: w.o.serviceName, Instance: w.o.instance, TraceID: j.state.traceID,
	}
	var loose struct {
		ID      any             `json:"id"`
		ReplyTo any             `json:"reply_to"`
		Meta    json.RawMessage `json:"meta"`
	}
	if obj := redactObject(data, w.secret); obj != nil {
		rec.Job = obj
		if json.Unmarshal(data, &loose) == nil {
			jobID, _ = loose.ID.(string)
			replyTo, _ = loose.ReplyTo.(string)
			if schemas.CheckSubject(replyTo) != "" || !w.replyTo.Allowed(replyTo) {
				replyTo = ""
			}
		}
	} else {
		rec.Raw = w.rawRedact.redact(data)
	}
	return rec, jobID, replyTo, validMeta(loose.Meta)
}

// validMeta returns meta when it is JSON (it is copied into a result as is).
func validMeta(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || !json.Valid(m) {
		return nil
	}
	return m
}

// deadLetter ends the job as a dead letter: marker, record, result, ack.
func (w *Worker) deadLetter(j *job, reason, class, errText string, status int) {
	jb := j.job
	in := &settleIntent{Kind: settleDeadLetter, MsgID: "dlq:" + w.t.Name + ":" + j.key,
		Reason: reason, Class: class, Error: errText, Status: status, ReplyTo: jb.ReplyTo}
	in.Result = w.encodeResult(jb.ReplyTo, &schemas.Result{
		JobID: jb.ID, Target: w.t.Name, Outcome: schemas.OutcomeDeadLettered, Status: status,
		Attempts: j.state.attempts, DurationMS: ms(w.o.now().Sub(j.firstOrStart())),
		ErrorClass: class, Error: errText, TraceID: j.state.traceID, Meta: jb.Meta,
	})
	if !w.mark(j, in, jb.ID) {
		return
	}
	w.storeDeadLetter(j, w.deadLetterRecord(j, in), jb.ID, in)
}

// deadLetterRecord is the dead letter of decoded job j as in decided it.
func (w *Worker) deadLetterRecord(j *job, in *settleIntent) *schemas.DeadLetter {
	rec := &schemas.DeadLetter{
		Job: redactJob(j.job, w.secret), Target: w.t.Name, Reason: in.Reason, ErrorClass: in.Class, Error: in.Error,
		LastStatus: in.Status, Attempts: j.state.attempts, History: j.state.history, DeadAt: w.o.now().UTC(),
		TraceID: j.state.traceID, ServiceName: w.o.serviceName, Instance: w.o.instance,
	}
	if !j.state.first.IsZero() {
		f := j.state.first.UTC()
		rec.FirstAttemptAt = &f
	}
	return rec
}

// deadLetterIntent redoes a dead letter an earlier delivery decided.
func (w *Worker) deadLetterIntent(j *job, in *settleIntent) {
	if in.Invalid {
		rec, jobID, _, _ := w.invalidRecord(j, in.Error)
		w.storeDeadLetter(j, rec, jobID, in)
		return
	}
	w.storeDeadLetter(j, w.deadLetterRecord(j, in), j.job.ID, in)
}

// storeDeadLetter stores rec under in's message id (its marker written),
// then sends in's result and acks.
func (w *Worker) storeDeadLetter(j *job, rec *schemas.DeadLetter, jobID string, in *settleIntent) {
	ctx, cancel := context.WithTimeout(context.Background(), w.recordTimeout())
	defer cancel()
	if err := w.rec.DeadLetter(ctx, rec, in.MsgID); err != nil {
		if !w.recordRefused(j.m, jobID, schemas.RecordDeadLetter, err) {
			w.o.log.Error("dead letter not stored; job will be redelivered", zap.String("job_id", jobID), zap.Error(err))
		}
		return
	}
	crashAfterStore(settleDeadLetter)
	w.o.obs.JobEnded(w.t.Name, schemas.OutcomeDeadLettered, in.Reason)
	if !in.Invalid {
		w.o.log.Warn("job dead-lettered",
			zap.String("job_id", jobID), zap.String("trace_id", j.state.traceID), zap.String("upstream_host", j.host),
			zap.String("reason", in.Reason), zap.String("error_class", in.Class), zap.Int("status", in.Status),
			zap.Int("attempt", j.state.attempts))
	}
	w.sendResult(in.ReplyTo, jobID, in.Result)
	w.ack(j.m, jobID)
}

// circuitOpen handles a job that finds every endpoint's breaker open: it
// goes to the fallback stream (when_open: fallback; hold is holdJob's).
func (w *Worker) circuitOpen(j *job) {
	jb := j.job
	primary := w.breakers[0]
	in := &settleIntent{Kind: settleFallback, MsgID: "fb:" + w.t.Name + ":" + j.key,
		BreakerState: string(primary.stateName(w.o.now())), Endpoint: primary.shown, ReplyTo: jb.ReplyTo}
	fb := &schemas.FallbackResponse{Status: http.StatusServiceUnavailable}
	if w.t.Fallback != nil {
		fb = &schemas.FallbackResponse{Status: w.t.Fallback.Status, Body: w.t.Fallback.Body}
	}
	in.Result = w.encodeResult(jb.ReplyTo, &schemas.Result{
		JobID: jb.ID, Target: w.t.Name, Outcome: schemas.OutcomeFallback, Status: 0,
		Attempts: j.state.attempts, DurationMS: ms(w.o.now().Sub(j.firstOrStart())),
		ErrorClass: schemas.ClassCircuitOpen, Error: "circuit breaker " + in.BreakerState, Fallback: fb,
		TraceID: j.state.traceID, Meta: jb.Meta,
	})
	if !w.mark(j, in, jb.ID) {
		return
	}
	w.storeFallback(j, in)
}

// storeFallback stores j's fallback record as in decided it (its marker
// written: by this delivery, or by an earlier one when redone), then sends
// in's result and acks.
func (w *Worker) storeFallback(j *job, in *settleIntent) {
	jb := j.job
	rec := &schemas.Fallback{
		Job: redactJob(jb, w.secret), Target: w.t.Name, Reason: schemas.ReasonCircuitOpen,
		Endpoint: schemas.DisplayEndpoint(in.Endpoint), BreakerState: in.BreakerState,
		Attempts: j.state.attempts, At: w.o.now().UTC(), TraceID: j.state.traceID,
		ServiceName: w.o.serviceName, Instance: w.o.instance,
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.recordTimeout())
	defer cancel()
	if err := w.rec.Fallback(ctx, rec, in.MsgID); err != nil {
		if !w.recordRefused(j.m, jb.ID, schemas.RecordFallback, err) {
			w.o.log.Error("fallback not stored; job will be redelivered", zap.String("job_id", jb.ID), zap.Error(err))
		}
		return
	}
	crashAfterStore(settleFallback)
	w.o.obs.JobEnded(w.t.Name, schemas.OutcomeFallback, schemas.ReasonCircuitOpen)
	w.o.log.Info("job to fallback", zap.String("job_id", jb.ID), zap.String("trace_id", j.state.traceID),
		zap.String("error_class", schemas.ClassCircuitOpen), zap.String("breaker_state", rec.BreakerState))
	w.sendResult(in.ReplyTo, jb.ID, in.Result)
	w.ack(j.m, jb.ID)
}

// publishResult sends a result to replyTo (core NATS, best effort; nothing
// when replyTo is empty).
func (w *Worker) publishResult(replyTo string, r *schemas.Result) {
	w.sendResult(replyTo, r.JobID, w.encodeResult(replyTo, r))
}

// encodeResult is r as sent to replyTo; nil when there is nowhere to send it.
func (w *Worker) encodeResult(replyTo string, r *schemas.Result) []byte {
	if replyTo == "" {
		return nil
	}
	b, _, err := schemas.FitResult(r, int(w.nc.MaxPayload()))
	if err != nil {
		w.o.log.Error("encode result", zap.String("job_id", r.JobID), zap.Error(err))
		return nil
	}
	return b
}

// sendResult publishes an encoded result (core NATS, best effort), never to
// a subject the reply policy refuses.
func (w *Worker) sendResult(replyTo, jobID string, b []byte) {
	if replyTo == "" || b == nil {
		return
	}
	if why := w.replyTo.refuse(replyTo); why != "" {
		w.o.log.Warn("result not published: reply_to refused", zap.String("job_id", jobID), zap.String("reason", why))
		return
	}
	if err := w.nc.Publish(replyTo, b); err != nil {
		w.o.log.Warn("publish result", zap.String("job_id", jobID), zap.Error(err))
	}
}
