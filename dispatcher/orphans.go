package dispatcher

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// orphanSweeper dead-letters jobs published for a target that no live
// instance of the fleet serves, once the target has been unserved for the
// grace period (as this instance saw it) and the job is that old too. Jobs
// of a target another instance serves are never swept. It reads and deletes
// them by sequence (no consumer: a consumer on the whole jobs subject space
// would overlap the targets' consumers, which a WorkQueue stream forbids).
type orphanSweeper struct {
	topo schemas.Topology
	js   jetstream.JetStream
	rec  worker.Recorder
	// unserved tells whether no live instance serves target, and since
	// when (fleetMember.unserved).
	unserved func(target string) (since time.Time, ok bool)
	grace    time.Duration
	log      *zap.Logger
	service  string
	instance string
	obs      worker.Observer // nil: none
	// guards are the redaction and reply policy of the security config in
	// effect (a reload replaces them).
	guards atomic.Pointer[orphanGuards]

	st    jetstream.Stream // the jobs stream, looked up by the first sweep
	sched jetstream.Stream // the scheduling stream (fired copies), likewise
}

// orphanGuards are what the security config gives the sweeper.
type orphanGuards struct {
	redact *worker.Redactor
	reply  *worker.ReplyPolicy
}

// setSecurity makes the sweeper redact and check reply_to by sec.
func (o *orphanSweeper) setSecurity(sec worker.Security) {
	o.guards.Store(&orphanGuards{redact: worker.NewRedactor(sec.RedactHeaders), reply: worker.NewReplyPolicy(o.topo.Prefix, sec.ReplyToAllow)})
}

// unknownTargetLabel is the target label of every orphan in the metrics: the
// subjects' own tokens are chosen by publishers and would make the label set
// unbounded.
const unknownTargetLabel = "_unknown"

func (o *orphanSweeper) run(ctx context.Context) {
	every := min(max(o.grace/4, 250*time.Millisecond), 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := o.sweep(ctx); err != nil && ctx.Err() == nil {
				o.log.Warn("orphan sweep", zap.Error(err))
			}
		}
	}
}

// sweep runs one pass over the subjects of the jobs stream and the fired
// copies of the scheduling stream.
func (o *orphanSweeper) sweep(ctx context.Context) error {
	for _, src := range []struct {
		stream, filter string
		st             *jetstream.Stream
		target         func(string) (string, bool)
	}{
		{o.topo.JobsStream(), o.topo.JobsWildcard(), &o.st, o.topo.JobsTarget},
		{o.topo.SchedStream(), o.topo.DueWildcard(), &o.sched, o.topo.DueTarget},
	} {
		if *src.st == nil {
			// A handle addresses the stream by name: it stays good for the
			// sweeper's life, so each sweep costs one stream info only.
			st, err := o.js.Stream(ctx, src.stream)
			if err != nil {
				return err
			}
			*src.st = st
		}
		info, err := (*src.st).Info(ctx, jetstream.WithSubjectFilter(src.filter))
		if err != nil {
			return err
		}
		for subj := range info.State.Subjects {
			target, _ := src.target(subj)
			if !o.due(target) {
				continue
			}
			if err := o.sweepSubject(ctx, *src.st, subj, target); err != nil {
				return err
			}
		}
	}
	return nil
}

// due reports whether target's jobs may be swept: no live instance has
// served it for the grace period.
func (o *orphanSweeper) due(target string) bool {
	since, ok := o.unserved(target)
	return ok && time.Since(since) >= o.grace
}

func (o *orphanSweeper) sweepSubject(ctx context.Context, st jetstream.Stream, subj, target string) error {
	var seq uint64 = 1
	for ctx.Err() == nil {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Since(m.Time) < o.grace {
			return nil // later ones are younger still
		}
		if !o.due(target) {
			return nil // an instance serves it now
		}
		if err := o.orphan(ctx, target, m.Data, schemas.DeliveryKey(st.CachedInfo().Config.Name, m.Sequence)); err != nil {
			return err
		}
		if err := st.DeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return err
		}
		seq = m.Sequence + 1
	}
	return ctx.Err()
}

// orphan dead-letters a job of target, which no live instance serves:
// data is its message's payload, key its delivery (schemas.DeliveryKey),
// which names the dead letter: doing it twice (a sweep or a delivery that
// died before the job was removed) stores one. A record too large even cut
// to its minimum is no error: the job goes without one, logged and counted.
func (o *orphanSweeper) orphan(ctx context.Context, target string, data []byte, key string) error {
	rec := &schemas.DeadLetter{
		Target: target, Reason: schemas.ReasonUnknownTarget, ErrorClass: schemas.ClassUnknownTarget,
		Error:  "no live instance has target " + strconv.Quote(target) + " configured",
		DeadAt: time.Now().UTC(), ServiceName: o.service, Instance: o.instance,
	}
	g := o.guards.Load()
	job, err := schemas.DecodeJob(data)
	if err == nil {
		rec.Job = g.redact.Job(job)
		rec.TraceID = job.TraceID
	} else if obj := g.redact.Object(data); obj != nil {
		rec.Job = obj // a JSON object, headers redacted, as a worker stores invalid jobs
	} else {
		rec.Raw = g.redact.Raw(data)
	}
	// A sweep that died between the dead letter and the delete finds
	// the orphan again: the same msg id within the dead-letter stream's
	// settle window makes its second dead letter a duplicate.
	msgID := "dlq:orphan:" + key
	err = o.rec.DeadLetter(ctx, rec, msgID)
	if err != nil && !errors.Is(err, schemas.ErrTooLarge) {
		return err
	}
	if err == nil && job != nil && job.ReplyTo != "" && g.reply.Allowed(job.ReplyTo) {
		res, _, err := schemas.FitResult(&schemas.Result{
			JobID: job.ID, Target: target, Outcome: schemas.OutcomeDeadLettered,
			ErrorClass: schemas.ClassUnknownTarget, Error: rec.Error, TraceID: rec.TraceID, Meta: job.Meta,
		}, int(o.js.Conn().MaxPayload()))
		if err == nil {
			err = o.js.Conn().Publish(job.ReplyTo, res)
		}
		if err != nil {
			o.log.Warn("publish result", zap.String("job_id", job.ID), zap.Error(err))
		}
	}
	o.ended(target, key, err)
	return nil
}

// ended counts and logs an orphan deleted from the jobs stream: dead-lettered,
// or (err wrapping schemas.ErrTooLarge, a refusal no retry would change)
// without a record.
func (o *orphanSweeper) ended(target, key string, err error) {
	if err != nil {
		o.log.Error("record too large even cut to its minimum; orphan deleted without one", zap.String("target", target),
			zap.String("key", key), zap.Error(err))
		if o.obs != nil {
			o.obs.RecordTooLarge(unknownTargetLabel, schemas.RecordDeadLetter)
		}
		return
	}
	if o.obs != nil {
		o.obs.JobEnded(unknownTargetLabel, schemas.OutcomeDeadLettered, schemas.ReasonUnknownTarget)
	}
	o.log.Warn("job for unknown target dead-lettered", zap.String("target", target),
		zap.String("key", key), zap.String("reason", schemas.ReasonUnknownTarget))
}
