package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/jetdispatch/dispatcher/schemas"
)

// DefaultReplayConcurrency is how many records Replay works on at once
// unless ReplaySettings says otherwise.
const DefaultReplayConcurrency = 8

// replayPublishTimeout bounds one re-publish and one delete.
const replayPublishTimeout = 10 * time.Second

var traceIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ReplayMsgID is the Nats-Msg-Id of the re-publish of the dead letter at
// seq. It differs from the job's first Nats-Msg-Id (its id), so the jobs
// stream's duplicate window does not drop the re-publish, and it is the same
// on every run, so the window drops a second re-publish of the same record
// by a rerun after a crash between the publish and the delete.
func ReplayMsgID(seq uint64) string { return "replay:" + strconv.FormatUint(seq, 10) }

// ReplaySettings tune Replay. The zero value replays as fast as JetStream
// acknowledges, DefaultReplayConcurrency records at a time.
type ReplaySettings struct {
	// Rate limits re-publishes per second; 0 means no limit.
	Rate float64
	// Concurrency is how many records are worked on at once; 0 means
	// DefaultReplayConcurrency. Whatever it is, a killed replay loses no
	// record; it bounds how many records a rerun finds already re-published.
	Concurrency int
	// DryRun checks every record and reports what would be replayed, and
	// changes nothing.
	DryRun bool
}

// ReplayOutcome is what happened to one record.
type ReplayOutcome string

// Replay outcomes.
const (
	// Replayed: the job was re-published and the record deleted.
	Replayed ReplayOutcome = "replayed"
	// AlreadyReplayed: an earlier run had re-published the job (JetStream
	// dropped this one as a duplicate) but not deleted the record; it is
	// deleted now.
	AlreadyReplayed ReplayOutcome = "already_replayed"
	// WouldReplay: a dry run found the record replayable.
	WouldReplay ReplayOutcome = "would_replay"
	// Skipped: the record holds no job that can be published again, or is
	// gone (replayed or purged by someone else meanwhile); it is kept.
	Skipped ReplayOutcome = "skipped"
	// Failed: JetStream did not acknowledge the re-publish (the record is
	// kept), or did but the record could not be deleted (a rerun deletes it
	// without publishing again).
	Failed ReplayOutcome = "failed"
)

// ReplayEvent reports the outcome of one record.
type ReplayEvent struct {
	Seq     uint64
	Target  string
	JobID   string
	Outcome ReplayOutcome
	// JobSeq is the job's sequence in the jobs stream after a re-publish.
	JobSeq uint64
	// Dropped lists the job's headers left out of the re-publish because the
	// dead letter kept only their redacted value.
	Dropped []string
	// Err says why the record was skipped or failed.
	Err error
}

// ReplayReport counts the outcomes of a Replay.
type ReplayReport struct {
	// Replayed counts records re-published and deleted, AlreadyReplayed
	// included.
	Replayed        int `json:"replayed"`
	AlreadyReplayed int `json:"already_replayed"`
	WouldReplay     int `json:"would_replay"`
	Skipped         int `json:"skipped"`
	Failed          int `json:"failed"`
	// Dropped counts replayed jobs that lost redacted headers.
	Dropped int `json:"dropped_headers"`
}

// Replay publishes the job of every selected record back to
// <prefix>.jobs.<target> with its own id (the target sees the same
// Idempotency-Key), a Nats-Msg-Id of ReplayMsgID, a Dispatch-Replay-Of
// header, no retry state (attempts start anew), and the record's trace id
// as a traceparent when the job names none. A record is deleted only after
// JetStream acknowledged its re-publish; killed half-way, a rerun inside the
// jobs stream's duplicate window loses no record and re-publishes nothing
// twice.
//
// Headers that the record kept only as "[REDACTED]" are left out of the
// re-publish (the target's configured headers are still added by the
// service). each, when not nil, is called for every record, never
// concurrently. The error is about the run as a whole (ctx ended, no
// stream); a record's failure is in its event and the report.
func (s *Store) Replay(ctx context.Context, sel *Selection, set ReplaySettings, each func(ReplayEvent)) (ReplayReport, error) {
	var rep ReplayReport
	st, err := s.handle(ctx)
	if err != nil {
		return rep, err
	}
	var (
		mu  sync.Mutex
		lim *rate.Limiter
	)
	if set.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(set.Rate), 1)
	}
	emit := func(ev ReplayEvent) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Outcome {
		case Replayed:
			rep.Replayed++
		case AlreadyReplayed:
			rep.Replayed++
			rep.AlreadyReplayed++
		case WouldReplay:
			rep.WouldReplay++
		case Skipped:
			rep.Skipped++
		case Failed:
			rep.Failed++
		}
		if len(ev.Dropped) > 0 && ev.Outcome != Skipped && ev.Outcome != Failed {
			rep.Dropped++
		}
		if each != nil {
			each(ev)
		}
	}
	conc := set.Concurrency
	if conc <= 0 {
		conc = DefaultReplayConcurrency
	}
	recs := make(chan *Record)
	var wg sync.WaitGroup
	for range min(conc, max(sel.Len(), 1)) {
		wg.Go(func() {
			for r := range recs {
				if ev, done := s.replayOne(ctx, st, r, set.DryRun, lim); done {
					emit(ev)
				}
			}
		})
	}
	err = s.eachSelected(ctx, sel, func(r *Record) error {
		select {
		case recs <- r:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, func(seq uint64) {
		emit(ReplayEvent{Seq: seq, Outcome: Skipped, Err: fmt.Errorf("%w: sequence %d (replayed or purged meanwhile)", ErrNotFound, seq)})
	})
	close(recs)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return rep, err
}

// eachSelected reads the selected records that still exist, in order, with
// one pass over the stream (or direct gets for a selection by sequence), and
// calls gone for each one that no longer does.
func (s *Store) eachSelected(ctx context.Context, sel *Selection, fn func(*Record) error, gone func(seq uint64)) error {
	f := sel.Filter
	f.Limit, f.MaxSeq = 0, sel.MaxSeq()
	next := 0 // sel.Seqs[next] is the next selected sequence not yet seen
	err := s.List(ctx, f, func(r *Record) error {
		for next < len(sel.Seqs) && sel.Seqs[next] < r.Seq {
			gone(sel.Seqs[next])
			next++
		}
		if next == len(sel.Seqs) || sel.Seqs[next] != r.Seq {
			return nil // not selected (stored after a limit was reached)
		}
		next++
		return fn(r)
	})
	if err != nil {
		return err
	}
	for ; next < len(sel.Seqs); next++ {
		gone(sel.Seqs[next])
	}
	return nil
}

// replayOne replays one record. It reports false, having changed nothing,
// when ctx ended before the record was started; once started, the
// re-publish and the delete run to their end (bounded by their own timeout)
// so that an interrupted run leaves as little as possible half done.
func (s *Store) replayOne(ctx context.Context, st jetstream.Stream, rec *Record, dryRun bool, lim *rate.Limiter) (ReplayEvent, bool) {
	ev := ReplayEvent{Seq: rec.Seq, Target: rec.Target, JobID: rec.JobID}
	if ctx.Err() != nil {
		return ev, false
	}
	m, dropped, err := s.ReplayMessage(rec)
	ev.Dropped = dropped
	if err != nil {
		ev.Outcome, ev.Err = Skipped, err
		return ev, true
	}
	if dryRun {
		ev.Outcome = WouldReplay
		return ev, true
	}
	if lim != nil && lim.Wait(ctx) != nil {
		return ev, false
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replayPublishTimeout)
	defer cancel()
	ack, err := s.js.PublishMsg(pctx, m)
	if err != nil {
		ev.Outcome, ev.Err = Failed, fmt.Errorf("%w: re-publish to %s: %w; the dead letter is kept", ErrNotStored, m.Subject, err)
		return ev, true
	}
	ev.JobSeq = ack.Sequence
	// Gone already: another replay of the same record got here first, and
	// this re-publish was a duplicate of its own.
	if err := st.DeleteMsg(pctx, rec.Seq); err != nil && !isGone(err) {
		ev.Outcome, ev.Err = Failed, fmt.Errorf("re-published (jobs seq %d) but not deleted: %w; a rerun deletes it without publishing again", ack.Sequence, err)
		return ev, true
	}
	ev.Outcome = Replayed
	if ack.Duplicate {
		ev.Outcome = AlreadyReplayed
	}
	return ev, true
}

// ReplayMessage builds the message that replays rec, and lists the headers
// it leaves out because they were redacted. The error wraps
// ErrNotReplayable when the record holds no job that can be published again.
func (s *Store) ReplayMessage(rec *Record) (*nats.Msg, []string, error) {
	notReplayable := func(format string, a ...any) error {
		return &NotReplayableError{Seq: rec.Seq, Reason: fmt.Sprintf(format, a...)}
	}
	if s.fallback {
		return nil, nil, notReplayable("a fallback record is not replayed")
	}
	dl, err := rec.DeadLetter()
	if err != nil {
		return nil, nil, notReplayable("%v", err)
	}
	if len(dl.Job) == 0 || string(dl.Job) == "null" {
		return nil, nil, notReplayable("its job could not be decoded (see the raw bytes with 'dispatcher dlq show %d'); fix it and publish it again by hand", rec.Seq)
	}
	if cut := rec.Cut(); len(cut) > 0 {
		return nil, nil, notReplayable("the record was cut to fit the NATS max payload (lost: %s); its job is not the job as sent", strings.Join(cut, ", "))
	}
	job, err := schemas.DecodeJob(dl.Job)
	if err != nil {
		return nil, nil, notReplayable("%v", err)
	}
	if job.Target != "" && job.Target != rec.Target {
		return nil, nil, notReplayable("the job is for target %q but the record is on %s", job.Target, rec.Subject)
	}
	data := []byte(dl.Job)
	var dropped []string
	for k, v := range job.Headers {
		if v == schemas.Redacted {
			dropped = append(dropped, k)
			delete(job.Headers, k)
		}
	}
	if len(dropped) > 0 {
		slices.Sort(dropped)
		if data, err = json.Marshal(job); err != nil {
			return nil, nil, notReplayable("re-encode the job: %v", err)
		}
	}
	m := nats.NewMsg(s.topo.JobsSubject(rec.Target))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, ReplayMsgID(rec.Seq))
	m.Header.Set(schemas.HeaderReplayOf, strconv.FormatUint(rec.Seq, 10))
	if job.TraceID == "" && traceIDRe.MatchString(dl.TraceID) {
		m.Header.Set("Traceparent", fmt.Sprintf("00-%s-%016x-01", dl.TraceID, rec.Seq))
	}
	return m, dropped, nil
}
