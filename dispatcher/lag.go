package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// ErrNoJobsStream is wrapped by ReadLag when the jobs stream does not exist.
var ErrNoJobsStream = errors.New("no jobs stream")

// TargetLag is the backlog of one target.
type TargetLag struct {
	// Target is the target's name.
	Target string `json:"target"`
	// Consumer is the name of the target's durable consumer; empty when it
	// does not exist (the service has not run with this target yet).
	Consumer string `json:"consumer"`
	// Pending jobs were never delivered to a worker.
	Pending uint64 `json:"pending"`
	// InFlight jobs were delivered and await their ack.
	InFlight int `json:"in_flight"`
	// Retrying jobs wait for a scheduled retry (<p>.retry.<target>.*).
	Retrying uint64 `json:"retrying"`
	// Redelivered jobs in flight were delivered more than once.
	Redelivered int `json:"redelivered"`
	// Dead and Fallback count the target's dead-letter and fallback records.
	Dead     uint64 `json:"dead"`
	Fallback uint64 `json:"fallback"`
	// OldestPendingAt is when the oldest pending job was stored, and
	// OldestPendingSeconds its age; nil and 0 without pending jobs.
	OldestPendingAt      *time.Time `json:"oldest_pending_at"`
	OldestPendingSeconds float64    `json:"oldest_pending_seconds"`
	// LastActive is the consumer's last delivery or ack; nil if none.
	LastActive *time.Time `json:"last_active"`
	// Delivered counts the consumer's deliveries, redeliveries included;
	// two readings give a delivery rate.
	Delivered uint64 `json:"delivered"`
	// WaitingPulls is the number of pull requests waiting for jobs: above
	// zero, workers are connected and idle.
	WaitingPulls int `json:"waiting_pulls"`
	// Paused reports that the target's consumer is paused: held while every
	// endpoint's breaker is open (breaker.when_open: hold), until
	// PausedUntil; jobs wait in the stream meanwhile.
	Paused      bool       `json:"paused"`
	PausedUntil *time.Time `json:"paused_until,omitempty"`
}

// Orphan is a subject of the jobs stream that no target's consumer reads.
type Orphan struct {
	Subject string `json:"subject"`
	// Target is Subject less <p>.jobs.: every token of it (dispatch.jobs.a.b
	// is target "a.b", which no configured target can be).
	Target   string `json:"target"`
	Messages uint64 `json:"messages"`
	// OldestAt is when its oldest job was stored, OldestSeconds its age.
	OldestAt      *time.Time `json:"oldest_at"`
	OldestSeconds float64    `json:"oldest_seconds"`
}

// Lag is a snapshot of every target's backlog.
type Lag struct {
	// At is when the snapshot was taken.
	At time.Time `json:"at"`
	// SubjectPrefix and JobsStream say what was read.
	SubjectPrefix string `json:"subject_prefix"`
	JobsStream    string `json:"jobs_stream"`
	// Targets are sorted by name.
	Targets []TargetLag `json:"targets"`
	// Orphans are sorted by subject.
	Orphans []Orphan `json:"orphans"`
	// Fleet is the fleet view (live instances, breakers open fleet-wide)
	// when the reader asked for it (ReadFleet); nil otherwise.
	Fleet *FleetView `json:"fleet,omitempty"`
}

// LagSettings tune ReadLag. The zero value reports every target that has a
// consumer, a dead letter or a fallback record.
type LagSettings struct {
	// Known are configured targets: they are reported even before their
	// consumer exists, and their jobs are never orphans.
	Known []string
	// Only, when not empty, limits the report to these targets.
	Only []string
	// Now is the clock ages are measured with; nil means time.Now.
	Now func() time.Time

	// backlogOnly skips what the metrics poller does not report (Retrying,
	// Dead, Fallback): three stream lookups and infos less every poll.
	backlogOnly bool
}

// ReadLag reads the backlog of every target from JetStream: consumer state,
// per-subject counts of the jobs, dead-letter and fallback streams, and the
// oldest pending job of each target. It reads only; whether the service
// runs or not makes no difference.
func ReadLag(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, set LagSettings) (*Lag, error) {
	now := time.Now
	if set.Now != nil {
		now = set.Now
	}
	lag := &Lag{At: now().UTC(), SubjectPrefix: topo.Prefix, JobsStream: topo.JobsStream(), Targets: []TargetLag{}, Orphans: []Orphan{}}
	st, err := js.Stream(ctx, topo.JobsStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: stream %s does not exist (the service creates it at start; check --subject-prefix)", ErrNoJobsStream, topo.JobsStream())
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", topo.JobsStream(), err)
	}
	jobs, err := subjectCounts(ctx, st, topo.JobsWildcard())
	if err != nil {
		return nil, err
	}
	var retries, scheduled, dead, fallback map[string]uint64 // nil: not read
	if !set.backlogOnly {
		if retries, err = subjectCounts(ctx, st, topo.RetryWildcard()); err != nil {
			return nil, err
		}
		if scheduled, err = streamCounts(ctx, js, topo.SchedStream(), topo.SchedWildcard()); err != nil {
			return nil, err
		}
		if dead, err = streamCounts(ctx, js, topo.DLQStream(), topo.DLQWildcard()); err != nil {
			return nil, err
		}
		if fallback, err = streamCounts(ctx, js, topo.FallbackStream(), topo.FallbackWildcard()); err != nil {
			return nil, err
		}
	}
	consumers, err := targetConsumers(ctx, st, topo)
	if err != nil {
		return nil, err
	}
	due, err := dueConsumers(ctx, js, topo)
	if err != nil {
		return nil, err
	}

	wanted := func(t string) bool { return len(set.Only) == 0 || slices.Contains(set.Only, t) }
	rows := map[string]*TargetLag{}
	row := func(t string) *TargetLag {
		if rows[t] == nil {
			rows[t] = &TargetLag{Target: t}
		}
		return rows[t]
	}
	for _, t := range set.Known {
		row(t)
	}
	for t := range consumers {
		row(t)
	}
	retrying := map[string]uint64{}
	for _, counts := range []map[string]uint64{retries, scheduled} {
		for subj, n := range counts {
			if t, ok := topo.RetryTarget(subj); ok {
				retrying[t] += n
			}
		}
	}
	// A subject's target is all of it after <p>.jobs. (<p>.dlq., ...): a
	// subject of more tokens than <p>.jobs.<target> is no target's, so an
	// orphan, and is shown whole, never as the target its last token names.
	for subj, n := range dead {
		if t, ok := topo.DLQTarget(subj); ok {
			row(t).Dead += n
		}
	}
	for subj, n := range fallback {
		if t, ok := topo.FallbackTarget(subj); ok {
			row(t).Fallback += n
		}
	}
	for t, n := range retrying {
		if rows[t] != nil || consumers[t] != nil {
			row(t).Retrying = n
		}
	}
	for subj, n := range jobs {
		t, _ := topo.JobsTarget(subj)
		if consumers[t] != nil || slices.Contains(set.Known, t) {
			continue
		}
		if n > 0 && wanted(t) {
			o := Orphan{Subject: subj, Target: t, Messages: n}
			if at, ok := oldestOn(ctx, st, subj, 1); ok {
				o.OldestAt, o.OldestSeconds = &at, ageSeconds(lag.At, at)
			}
			lag.Orphans = append(lag.Orphans, o)
		}
	}
	for t, r := range rows {
		if !wanted(t) {
			continue
		}
		subj := topo.JobsSubject(t)
		from := uint64(1)
		if ci := consumers[t]; ci != nil {
			r.Consumer = ci.Name
			r.Pending = ci.NumPending
			r.InFlight = ci.NumAckPending
			r.Redelivered = ci.NumRedelivered
			r.Delivered = ci.Delivered.Consumer
			r.WaitingPulls = ci.NumWaiting
			r.LastActive = latest(ci.Delivered.Last, ci.AckFloor.Last)
			if ci.Paused {
				until := lag.At.Add(ci.PauseRemaining)
				r.Paused, r.PausedUntil = true, &until
			}
			from = ci.Delivered.Stream + 1
		} else {
			r.Pending = jobs[subj]
		}
		if ci := due[t]; ci != nil {
			// Fired copies (retries, postponements, holds) due now.
			r.Pending += ci.NumPending
			r.InFlight += ci.NumAckPending
			r.Redelivered += ci.NumRedelivered
			r.Delivered += ci.Delivered.Consumer
			r.LastActive = latest(r.LastActive, latest(ci.Delivered.Last, ci.AckFloor.Last))
		}
		if r.Pending > 0 {
			if at, ok := oldestOn(ctx, st, subj, from); ok {
				r.OldestPendingAt, r.OldestPendingSeconds = &at, ageSeconds(lag.At, at)
			}
		}
		lag.Targets = append(lag.Targets, *r)
	}
	slices.SortFunc(lag.Targets, func(a, b TargetLag) int { return strings.Compare(a.Target, b.Target) })
	slices.SortFunc(lag.Orphans, func(a, b Orphan) int { return strings.Compare(a.Subject, b.Subject) })
	return lag, nil
}

// subjectCounts returns the message count of every subject of st matching
// filter.
func subjectCounts(ctx context.Context, st jetstream.Stream, filter string) (map[string]uint64, error) {
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("stream info %s: %w", filter, err)
	}
	if info.State.Subjects == nil {
		return map[string]uint64{}, nil
	}
	return info.State.Subjects, nil
}

// streamCounts is subjectCounts of the named stream; a stream that does not
// exist counts nothing.
func streamCounts(ctx context.Context, js jetstream.JetStream, name, filter string) (map[string]uint64, error) {
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return map[string]uint64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	return subjectCounts(ctx, st, filter)
}

// targetConsumers returns the consumers of st that are a target's durable
// consumer (named dispatch_<target>, filtering <p>.jobs.<target>), by target.
func targetConsumers(ctx context.Context, st jetstream.Stream, topo schemas.Topology) (map[string]*jetstream.ConsumerInfo, error) {
	out := map[string]*jetstream.ConsumerInfo{}
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		t, ok := topo.JobsTarget(ci.Config.FilterSubject)
		if ok && ci.Name == topo.ConsumerName(t) && schemas.ValidTarget(t) {
			out[t] = ci
		}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("list consumers of %s: %w", topo.JobsStream(), err)
	}
	return out, nil
}

// dueConsumers returns the consumers of the scheduling stream that take a
// target's fired copies, by target; none when the stream does not exist.
func dueConsumers(ctx context.Context, js jetstream.JetStream, topo schemas.Topology) (map[string]*jetstream.ConsumerInfo, error) {
	out := map[string]*jetstream.ConsumerInfo{}
	st, err := js.Stream(ctx, topo.SchedStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", topo.SchedStream(), err)
	}
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		t, ok := topo.DueTarget(ci.Config.FilterSubject)
		if ok && ci.Name == topo.DueConsumerName(t) && schemas.ValidTarget(t) {
			out[t] = ci
		}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("list consumers of %s: %w", topo.SchedStream(), err)
	}
	return out, nil
}

// oldestOn returns when the first message on subj at or after sequence from
// was stored.
func oldestOn(ctx context.Context, st jetstream.Stream, subj string, from uint64) (time.Time, bool) {
	m, err := st.GetMsg(ctx, max(from, 1), jetstream.WithGetMsgSubject(subj))
	if err != nil {
		return time.Time{}, false
	}
	return m.Time.UTC(), true
}

func latest(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil || a.After(*b):
		return a
	}
	return b
}

func ageSeconds(now, at time.Time) float64 { return max(now.Sub(at).Seconds(), 0) }
