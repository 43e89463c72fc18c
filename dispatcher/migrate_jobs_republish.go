package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Publishing the held messages again, once the new jobs stream exists.

// migrationProgress is the holding stream's note of how far the held
// messages were published again, by holding stream sequence. The note is
// written after a batch's acks: a run that stops between a batch's
// publishes and its note leaves that batch in doubt, and the next run
// looks each of its messages up in the stream it went to.
type migrationProgress struct {
	JobsThrough    uint64 `json:"jobs_through,omitempty"`
	RetriesThrough uint64 `json:"retries_through,omitempty"`
	// SchedFrom is the scheduling stream's first sequence that may hold
	// a rescheduled copy (its last sequence + 1 before the first one).
	SchedFrom uint64 `json:"sched_from,omitempty"`
}

// readProgress reads the last note; zero when there is none.
func (m *JobsMigration) readProgress(ctx context.Context) (migrationProgress, error) {
	var p migrationProgress
	msg, err := m.getMsg(ctx, m.topo.HoldingStream(), 1, m.topo.MigrationProgressSubject())
	if err != nil || msg == nil {
		return p, err
	}
	if err := json.Unmarshal(msg.Data, &p); err != nil {
		return p, fmt.Errorf("%w: the progress note of %s: %v", ErrMigrationConflict, m.topo.HoldingStream(), err)
	}
	return p, nil
}

// writeProgress stores the note (the holding stream keeps the last one).
func (m *JobsMigration) writeProgress(ctx context.Context, p migrationProgress) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := m.js.Publish(ctx, m.topo.MigrationProgressSubject(), data); err != nil {
		return fmt.Errorf("note the progress in %s: %w", m.topo.HoldingStream(), err)
	}
	return nil
}

// migrationMsgID is the Nats-Msg-Id of a message published again that
// had none of its own (or shares its job's with an earlier held message):
// migrate:<old stream>-<seq>.
func (m *JobsMigration) migrationMsgID(oldSeq uint64) string {
	return "migrate:" + m.migrationKey(oldSeq)
}

// migrationKey names a held message by where it was: DISPATCH_JOBS-<seq>.
func (m *JobsMigration) migrationKey(oldSeq uint64) string {
	return schemas.DeliveryKey(m.topo.JobsStream(), oldSeq)
}

// republish publishes the held jobs again, then the held retry copies to
// the scheduling stream.
func (m *JobsMigration) republish(ctx context.Context, plan migrationPlan, rep *MigrationReport) error {
	ji, err := m.streamInfo(ctx, m.topo.JobsStream())
	if err != nil {
		return err
	}
	if ji == nil || legacyJobs(ji) {
		return fmt.Errorf("%w: %s is gone or allows schedules again (a service of an earlier version created it?)", ErrMigrationConflict, m.topo.JobsStream())
	}
	if ji.Config.FirstSeq != plan.jobsLastSeq+1 {
		m.o.progress(MigrationEvent{Step: StepWarning, Detail: fmt.Sprintf(
			"%s was not created by this migration (a service started while it ran?): its sequences may repeat the old stream's", m.topo.JobsStream())})
	}
	if st := ji.State; (st.Msgs > 0 && st.Msgs != st.LastSeq-st.FirstSeq+1) || (ji.Config.FirstSeq > 0 && st.FirstSeq > ji.Config.FirstSeq) {
		m.o.progress(MigrationEvent{Step: StepWarning, Detail: fmt.Sprintf(
			"jobs were taken from %s while the migration ran (a service consumed it?): a job published again by an interrupted run and consumed since may be published once more", m.topo.JobsStream())})
	}
	prog, err := m.readProgress(ctx)
	if err != nil {
		return err
	}
	fired, err := m.republishJobs(ctx, &prog, rep)
	if err != nil {
		return err
	}
	return m.reschedule(ctx, &prog, fired, rep)
}

// republishJobs publishes every held message but the retry copies again,
// to the subject it was published on, under its job's message id (the
// first held message with that id; the others, and those without one,
// under migrationMsgID). It returns the retry subjects whose copy fired
// into a held job.
func (m *JobsMigration) republishJobs(ctx context.Context, prog *migrationProgress, rep *MigrationReport) (map[string]bool, error) {
	now := m.o.now()
	present := &presence{m: m, stream: m.topo.JobsStream(), seen: map[string]bool{},
		keys: func(msg *jetstream.RawStreamMsg) []string { return []string{msg.Header.Get(jetstream.MsgIDHeader)} }}
	if err := present.refresh(ctx, true); err != nil {
		return nil, err
	}
	ids := map[string]bool{}   // the job message ids held so far
	fired := map[string]bool{} // retry subjects whose fired copy is held
	b := &batch{m: m, crashPoint: "republish"}
	b.prepare = func(ctx context.Context) error { return present.refresh(ctx, false) }
	b.skip = func(it *batchItem) bool {
		if present.seen[it.msg.Header.Get(jetstream.MsgIDHeader)] {
			rep.AlreadyStored++
			return true
		}
		return false
	}
	b.result = func(it *batchItem, ack *jetstream.PubAck, err error) error {
		switch {
		case err != nil:
			return fmt.Errorf("publish held message %d again on %s: %w", it.seq, it.msg.Subject, err)
		case ack.Duplicate:
			rep.AlreadyStored++
		default:
			rep.Republished++
		}
		return nil
	}
	b.flushed = func(last *batchItem) error {
		prog.JobsThrough = last.seq
		m.o.progress(MigrationEvent{Step: StepRepublish, Done: rep.Republished + rep.AlreadyStored + rep.DoneBefore})
		return m.writeProgress(ctx, *prog)
	}
	err := m.readAll(ctx, m.topo.HoldingStream(), m.topo.HeldWildcard(), func(held *jetstream.RawStreamMsg) error {
		oldSeq, orig, ok := m.topo.HeldSource(held.Subject)
		if !ok {
			return nil
		}
		kind, _, dest := m.classify(orig)
		due := false
		if kind == heldRetry {
			at, _ := scheduledAt(held.Header.Get(heldScheduleHeader))
			due = !at.After(now)
		}
		rep.Counts.count(kind, due)
		if kind == heldRetry {
			return nil
		}
		if s := held.Header.Get(heldSchedulerHeader); s != "" {
			fired[s] = true
		}
		id := held.Header.Get(heldMsgIDHeader)
		if id == "" || ids[id] {
			id = m.migrationMsgID(oldSeq)
		}
		ids[id] = true
		if held.Sequence <= prog.JobsThrough {
			rep.DoneBefore++
			return nil
		}
		msg := nats.NewMsg(dest)
		msg.Data = held.Data
		for k, vs := range held.Header {
			// Nats-*: the holding stream's own (the expected last
			// sequence of the copy), not the job's.
			if !strings.HasPrefix(k, heldPrefix) && !strings.HasPrefix(k, "Nats-") {
				msg.Header[k] = vs
			}
		}
		msg.Header.Set(jetstream.MsgIDHeader, id)
		return b.add(ctx, &batchItem{msg: msg, seq: held.Sequence})
	})
	if err == nil {
		err = b.flush(ctx)
	}
	if err != nil {
		return nil, err
	}
	m.o.progress(MigrationEvent{Step: StepRepublish, Done: rep.Republished + rep.AlreadyStored + rep.DoneBefore, Detail: "done"})
	return fired, nil
}

// reschedule turns each held retry copy into a scheduled copy in the
// scheduling stream, as the service makes them (worker/retry.go): on
// <p>.sched.<target>.<old stream>-<seq>, firing onto <p>.due.<target> at
// the same time (now when that is past), with the job's headers but
// NATS's and the retry state (it was not signed: the service would not
// trust it). A copy that fired while it was being copied is dropped: its
// job is among the held jobs.
func (m *JobsMigration) reschedule(ctx context.Context, prog *migrationProgress, fired map[string]bool, rep *MigrationReport) error {
	now := m.o.now()
	// A copy is in the scheduling stream while it waits, and its fired
	// copy names it (Nats-Scheduler) once it fired.
	present := &presence{m: m, stream: m.topo.SchedStream(), seen: map[string]bool{},
		keys: func(msg *jetstream.RawStreamMsg) []string {
			return []string{msg.Subject, msg.Header.Get(schedulerHeader)}
		}}
	b := &batch{m: m, crashPoint: "reschedule"}
	b.prepare = func(ctx context.Context) error {
		if present.next == 0 {
			si, err := m.ensureSched(ctx)
			if err != nil {
				return err
			}
			if prog.SchedFrom == 0 {
				prog.SchedFrom = si.State.LastSeq + 1
				if err := m.writeProgress(ctx, *prog); err != nil {
					return err
				}
			}
			present.next = prog.SchedFrom
			return present.refresh(ctx, true)
		}
		return present.refresh(ctx, false)
	}
	b.skip = func(it *batchItem) bool {
		if present.seen[it.msg.Subject] {
			rep.AlreadyScheduled++
			return true
		}
		return false
	}
	b.result = func(it *batchItem, ack *jetstream.PubAck, err error) error {
		switch {
		case err != nil:
			return fmt.Errorf("schedule held retry copy %d on %s: %w", it.seq, it.msg.Subject, err)
		case ack.Duplicate:
			rep.AlreadyScheduled++
		default:
			rep.Rescheduled++
		}
		return nil
	}
	b.flushed = func(last *batchItem) error {
		prog.RetriesThrough = last.seq
		m.o.progress(MigrationEvent{Step: StepReschedule, Done: rep.Rescheduled + rep.AlreadyScheduled})
		return m.writeProgress(ctx, *prog)
	}
	err := m.readAll(ctx, m.topo.HoldingStream(), m.topo.HeldFilter(m.topo.RetryWildcard()), func(held *jetstream.RawStreamMsg) error {
		oldSeq, orig, ok := m.topo.HeldSource(held.Subject)
		if !ok {
			return nil
		}
		kind, target, _ := m.classify(orig)
		if kind != heldRetry {
			return nil // published again as a job
		}
		if fired[orig] {
			rep.Counts.RetryCopiesFired++
			return nil
		}
		if held.Sequence <= prog.RetriesThrough {
			rep.DoneBefore++
			return nil
		}
		key := m.migrationKey(oldSeq)
		msg := nats.NewMsg(m.topo.SchedSubject(target, key))
		msg.Data = held.Data
		for k, vs := range held.Header {
			if strings.HasPrefix(k, "Nats-") || (strings.HasPrefix(k, "Dispa") && k != schemas.HeaderReplayOf) {
				continue
			}
			msg.Header[k] = vs
		}
		at, ok := scheduledAt(held.Header.Get(heldScheduleHeader))
		if !ok || at.Before(now) {
			at = now
		}
		msg.Header.Set(scheduleHeader, "@at "+at.UTC().Format(time.RFC3339Nano))
		msg.Header.Set(scheduleTargetHeader, m.topo.DueSubject(target))
		msg.Header.Set(jetstream.MsgIDHeader, "migrate:"+key)
		return b.add(ctx, &batchItem{msg: msg, seq: held.Sequence})
	})
	if err == nil {
		err = b.flush(ctx)
	}
	if err != nil {
		return err
	}
	m.o.progress(MigrationEvent{Step: StepReschedule, Done: rep.Rescheduled + rep.AlreadyScheduled + rep.DoneBefore, Detail: "done"})
	return nil
}

// ensureSched returns the scheduling stream's info, creating the stream
// (as the service would) when there is none.
func (m *JobsMigration) ensureSched(ctx context.Context) (*jetstream.StreamInfo, error) {
	si, err := m.streamInfo(ctx, m.topo.SchedStream())
	if err != nil || si != nil {
		return si, err
	}
	plan, err := m.plan(ctx)
	if err != nil {
		return nil, err
	}
	cfg := StreamConfigs(m.topo, StreamSettings{Replicas: plan.replicas, Partitions: plan.partitions, SettleWindow: m.set.SettleWindow})[1]
	st, err := m.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return m.streamInfo(ctx, m.topo.SchedStream())
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", m.topo.SchedStream(), err)
	}
	return st.CachedInfo(), nil
}
