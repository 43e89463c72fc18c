package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// ErrNoJobsStream is wrapped by ReadLag when the jobs stream does not exist.
var ErrNoJobsStream = errors.New("no jobs stream")

// The backlog is read per subject, not per consumer: the consumers are
// shared by every target of a partition. A target's jobs are stored on
// <p>.part.<k>.<target> (jobs stream) and its fired copies on
// <p>.duepart.<k>.<target> (scheduling stream); what was stored before the
// streams' subject transforms stays on <p>.jobs.<target> and
// <p>.due.<target>. Both streams are WorkQueue streams: a message stays
// until it is acked, so what a subject holds is what waits for delivery
// and what is in flight.

// TargetLag is the backlog of one target, read from the subjects its jobs
// are stored on.
type TargetLag struct {
	// Target is the target's name.
	Target string `json:"target"`
	// Partition is the target's partition (schemas.Partition among the
	// jobs stream's partitions); nil when the jobs stream has no
	// partitions (no release with partitions has run against it yet).
	Partition *int `json:"partition"`
	// Pending counts the target's jobs stored in the jobs stream and its
	// fired copies (retries, postponements, holds now due) stored in the
	// scheduling stream: those waiting for delivery and those delivered
	// and not acked yet. Both streams keep a message until it is acked
	// (WorkQueue retention), so jobs in flight count too.
	Pending uint64 `json:"pending"`
	// LegacyPending is the part of Pending stored on the subjects of the
	// per-target consumption (<p>.jobs.<target>, <p>.due.<target>): stored
	// before the streams' subject transforms, drained through the
	// target's old consumers (Lag.LegacyConsumers).
	LegacyPending uint64 `json:"legacy_pending"`
	// Retrying counts the target's scheduled copies waiting to fire:
	// retries, postponements and jobs parked by a hold (<p>.sched.<target>.*,
	// and <p>.retry.<target>.* of releases before the scheduling stream).
	Retrying uint64 `json:"retrying"`
	// Dead and Fallback count the target's dead-letter and fallback records.
	Dead     uint64 `json:"dead"`
	Fallback uint64 `json:"fallback"`
	// OldestPendingAt is when the oldest message counted in Pending was
	// stored, and OldestPendingSeconds its age; nil and 0 without any.
	OldestPendingAt      *time.Time `json:"oldest_pending_at"`
	OldestPendingSeconds float64    `json:"oldest_pending_seconds"`
	// Paused reports a pause of the target in effect (dispatcher pause,
	// LagSettings.Pauses): PausedUntil is its end (nil: until resumed),
	// PausedBy who paused it and PausedReason why. A hold (every breaker
	// open with when_open: hold) is no pause: it shows in the fleet's open
	// breakers.
	Paused       bool       `json:"paused"`
	PausedUntil  *time.Time `json:"paused_until"`
	PausedBy     string     `json:"paused_by,omitempty"`
	PausedReason string     `json:"paused_reason,omitempty"`
	// InFlight is the target's HTTP calls in flight and Buffered its
	// deliveries held by the instances and not in a call (waiting for a
	// slot, a rate-limit token, a probe, a hold's end, a retry made in
	// place), summed over the live instances' published verdicts; both
	// are part of Pending. 0 without a fleet view (Lag.SetFleet).
	InFlight int `json:"in_flight"`
	Buffered int `json:"buffered"`
	// Health is the target's verdict (Lag.SetFleet); nil without a fleet
	// view.
	Health *TargetHealth `json:"health"`
}

// ConsumerLag is the state of one durable consumer, as JetStream reports it.
type ConsumerLag struct {
	// Stream and Consumer name it.
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	// Pending messages match its filter and were never delivered.
	Pending uint64 `json:"pending"`
	// InFlight messages were delivered and await their ack (NumAckPending).
	InFlight int `json:"in_flight"`
	// Redelivered messages in flight were delivered more than once.
	Redelivered int `json:"redelivered"`
	// Delivered counts its deliveries, redeliveries included; two readings
	// give a delivery rate.
	Delivered uint64 `json:"delivered"`
	// WaitingPulls is the number of pull requests waiting for messages:
	// above zero, instances are connected and have room.
	WaitingPulls int `json:"waiting_pulls"`
	// LastActive is its last delivery or ack; nil if none.
	LastActive *time.Time `json:"last_active"`
}

// PartitionLag is one partition's consumers.
type PartitionLag struct {
	// Partition is k.
	Partition int `json:"partition"`
	// Jobs is the consumer of the partition's jobs (dispatcher-jobs-<k>)
	// and Due the consumer of its fired copies (dispatcher-due-<k>); nil
	// when it does not exist (yet).
	Jobs *ConsumerLag `json:"jobs"`
	Due  *ConsumerLag `json:"due"`
}

// LegacyConsumerLag is a consumer of the per-target consumption of a
// release before partitions (dispatch_<target>, dispatch_due_<target>):
// the service drains it of what was stored on the old subjects, then
// removes it.
type LegacyConsumerLag struct {
	// Target is the target it consumes.
	Target string `json:"target"`
	ConsumerLag
}

// Orphan is jobs of a target that is neither configured (LagSettings.Known)
// nor served by a live instance (LagSettings.Serving), on one subject.
type Orphan struct {
	// Subject is the subject the jobs were published on:
	// <p>.jobs.<target>, a subject of more tokens (<p>.jobs.a.b, no
	// target's), or <p>.due.<target> for copies fired for a target no
	// longer served.
	Subject string `json:"subject"`
	// StoredSubject is the subject the stream stores them on:
	// <p>.part.<k>.<target> or <p>.duepart.<k>.<target> in partitions;
	// Subject itself for jobs stored as published.
	StoredSubject string `json:"stored_subject"`
	// Target is the rest of Subject after <p>.jobs. or <p>.due.
	Target   string `json:"target"`
	Messages uint64 `json:"messages"`
	// OldestAt is when its oldest job was stored, OldestSeconds its age.
	OldestAt      *time.Time `json:"oldest_at"`
	OldestSeconds float64    `json:"oldest_seconds"`
}

// Lag is a snapshot of every target's backlog and of the consumers.
type Lag struct {
	// At is when the snapshot was taken.
	At time.Time `json:"at"`
	// SubjectPrefix, JobsStream and SchedStream say what was read.
	SubjectPrefix string `json:"subject_prefix"`
	JobsStream    string `json:"jobs_stream"`
	SchedStream   string `json:"sched_stream"`
	// PartitionCount is the number of partitions of the jobs stream's
	// subject transform; 0 without one.
	PartitionCount int `json:"partition_count"`
	// Targets are sorted by name.
	Targets []TargetLag `json:"targets"`
	// Partitions are sorted by partition: 0…PartitionCount-1, and any other
	// partition whose consumer exists (left by a larger
	// streams.partitions).
	Partitions []PartitionLag `json:"partitions"`
	// LegacyConsumers are the per-target consumers of a release before
	// partitions still present (during an upgrade), sorted by stream and
	// name.
	LegacyConsumers []LegacyConsumerLag `json:"legacy_consumers"`
	// Orphans are sorted by subject.
	Orphans []Orphan `json:"orphans"`
	// Fleet is the fleet view (live instances, breakers open fleet-wide)
	// when the reader asked for it (ReadFleet); nil otherwise.
	Fleet *FleetView `json:"fleet,omitempty"`

	// unserved is, for the metrics poller's reading (backlogOnly), the
	// backlog of the targets neither Known nor served.
	unserved map[string]uint64
}

// LagSettings tune ReadLag. The zero value reports every target that has a
// dead letter or a fallback record; stored jobs of other targets are
// orphans.
type LagSettings struct {
	// Known are configured targets: they are reported even without any
	// backlog, and their jobs are never orphans.
	Known []string
	// Serving, when not nil, is which live instance serves which target
	// (ReadFleet): the targets of the live instances are reported like
	// Known ones, and no target is an orphan while some live instance's
	// set is not known (it may serve any).
	Serving *Serving
	// Only, when not empty, limits the report to these targets: their
	// rows, orphans and legacy consumers (the partitions are all listed).
	Only []string
	// Pauses are the pauses in effect (ReadPauses): their targets are
	// reported, even without any backlog, marked paused.
	Pauses []TargetPause
	// Now is the clock ages are measured with; nil means time.Now.
	Now func() time.Time

	// backlogOnly is the metrics poller's reading: Pending and the oldest
	// pending job of the targets, and the partitions' consumers (by name);
	// no retrying, dead-letter or fallback counts, no legacy consumers,
	// no orphans. Three stream infos, one consumer info per partition
	// consumer, and one direct get per subject holding the backlog of a
	// reported target.
	backlogOnly bool
}

// oldestWorkers bounds the direct gets of the oldest pending jobs in flight.
const oldestWorkers = 8

// ReadLag reads the backlog of every target from JetStream: per-subject
// counts of the jobs, scheduling, dead-letter and fallback streams, the
// oldest stored job of each target, and the state of the partitions'
// consumers and of any per-target consumer left by an earlier release. It
// reads only; whether the service runs or not makes no difference.
func ReadLag(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, set LagSettings) (*Lag, error) {
	return newLagReader(js, topo).read(ctx, set)
}

// lagReader reads lags; it keeps its stream handles, so the metrics
// poller's readings look each stream up once.
type lagReader struct {
	js          jetstream.JetStream
	topo        schemas.Topology
	jobs, sched jetstream.Stream // nil until looked up
}

func newLagReader(js jetstream.JetStream, topo schemas.Topology) *lagReader {
	return &lagReader{js: js, topo: topo}
}

// storedOn is a subject of a stream holding some of a target's jobs.
type storedOn struct {
	st      jetstream.Stream
	subject string
	n       uint64
}

// counts are what the subject counts of the streams say, by target.
type counts struct {
	pending  map[string][]storedOn // stored jobs and fired copies, by target
	legacy   map[string]uint64     // the part of pending on the old subjects
	retrying map[string]uint64
	dead     map[string]uint64
	fallback map[string]uint64
	orphans  []Orphan // candidates: multi-token subjects, judged by read
	n        int      // partitions of the jobs stream's transform
}

func (r *lagReader) read(ctx context.Context, set LagSettings) (*Lag, error) {
	now := time.Now
	if set.Now != nil {
		now = set.Now
	}
	topo := r.topo
	lag := &Lag{At: now().UTC(), SubjectPrefix: topo.Prefix, JobsStream: topo.JobsStream(), SchedStream: topo.SchedStream(),
		Targets: []TargetLag{}, Partitions: []PartitionLag{}, LegacyConsumers: []LegacyConsumerLag{}, Orphans: []Orphan{}}
	c, err := r.counts(ctx, set.backlogOnly)
	if err != nil {
		return nil, err
	}
	lag.PartitionCount = c.n
	if err := r.consumers(ctx, lag, set.backlogOnly); err != nil {
		return nil, err
	}

	only := setOf(set.Only)
	wanted := func(t string) bool { return len(only) == 0 || only[t] }
	lag.LegacyConsumers = slices.DeleteFunc(lag.LegacyConsumers, func(l LegacyConsumerLag) bool { return !wanted(l.Target) })
	known := setOf(set.Known)
	served := func(t string) bool {
		if known[t] {
			return true
		}
		if set.Serving == nil {
			return false
		}
		ids, unknown := set.Serving.Servers(t)
		return len(ids) > 0 || len(unknown) > 0
	}
	rows := map[string]*TargetLag{}
	row := func(t string) *TargetLag {
		if rows[t] == nil {
			rows[t] = &TargetLag{Target: t}
		}
		return rows[t]
	}
	for t := range known {
		row(t)
	}
	for _, p := range set.Pauses {
		tl := row(p.Target)
		tl.Paused, tl.PausedUntil, tl.PausedBy, tl.PausedReason = true, p.Until, p.By, p.Reason
	}
	if sv := set.Serving; sv != nil {
		for _, id := range sv.Instances() {
			if s := sv.Set(id); s != nil {
				for t := range s.All() {
					row(t)
				}
			}
		}
	}
	for t, n := range c.dead {
		row(t).Dead = n
	}
	for t, n := range c.fallback {
		row(t).Fallback = n
	}
	var oldest []oldestJob // lookups to make
	for t, on := range c.pending {
		var total uint64
		for _, o := range on {
			total += o.n
		}
		if set.backlogOnly && !served(t) {
			if lag.unserved == nil {
				lag.unserved = map[string]uint64{}
			}
			lag.unserved[t] = total
			continue
		}
		if !wanted(t) {
			continue
		}
		if !served(t) && !set.backlogOnly {
			for _, o := range on {
				lag.Orphans = append(lag.Orphans, Orphan{Subject: r.published(o.subject), StoredSubject: o.subject, Target: t, Messages: o.n})
				oldest = append(oldest, oldestJob{on: o, orphan: len(lag.Orphans) - 1})
			}
		}
		if rows[t] == nil && !served(t) {
			continue
		}
		tl := row(t)
		tl.Pending, tl.LegacyPending = total, c.legacy[t]
		for _, o := range on {
			oldest = append(oldest, oldestJob{on: o, target: tl})
		}
	}
	if !set.backlogOnly {
		for _, o := range c.orphans {
			if wanted(o.Target) {
				lag.Orphans = append(lag.Orphans, o)
				oldest = append(oldest, oldestJob{on: storedOn{st: r.jobs, subject: o.StoredSubject, n: o.Messages}, orphan: len(lag.Orphans) - 1})
			}
		}
	}
	for t, n := range c.retrying {
		if rows[t] != nil {
			rows[t].Retrying = n
		}
	}
	r.oldest(ctx, lag, oldest)

	for t, tl := range rows {
		if !wanted(t) {
			continue
		}
		if c.n > 0 {
			k := schemas.Partition(t, c.n)
			tl.Partition = &k
		}
		lag.Targets = append(lag.Targets, *tl)
	}
	slices.SortFunc(lag.Targets, func(a, b TargetLag) int { return strings.Compare(a.Target, b.Target) })
	slices.SortFunc(lag.Orphans, func(a, b Orphan) int {
		return strings.Compare(a.Subject+" "+a.StoredSubject, b.Subject+" "+b.StoredSubject)
	})
	return lag, nil
}

// counts reads the subject counts: of the jobs stream (every subject), of
// the fired copies in the scheduling stream, and unless backlogOnly of the
// scheduled copies, dead letters and fallback records.
func (r *lagReader) counts(ctx context.Context, backlogOnly bool) (*counts, error) {
	topo := r.topo
	c := &counts{pending: map[string][]storedOn{}, legacy: map[string]uint64{}, retrying: map[string]uint64{}}
	if r.jobs == nil {
		st, err := r.js.Stream(ctx, topo.JobsStream())
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("%w: stream %s does not exist (the service creates it at start; check --subject-prefix)", ErrNoJobsStream, topo.JobsStream())
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", topo.JobsStream(), err)
		}
		r.jobs = st
	}
	// One reading of the whole jobs stream: partitions, old subjects,
	// subjects of more tokens and old retries alike.
	info, err := r.jobs.Info(ctx, jetstream.WithSubjectFilter(">"))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: stream %s does not exist", ErrNoJobsStream, topo.JobsStream())
	}
	if err != nil {
		return nil, fmt.Errorf("stream info %s: %w", topo.JobsStream(), err)
	}
	if tr := info.Config.SubjectTransform; tr != nil {
		c.n, _ = topo.TransformPartitions(tr.Destination)
	}
	for subj, n := range info.State.Subjects {
		if _, t, ok := topo.PartTarget(subj); ok {
			c.pending[t] = append(c.pending[t], storedOn{r.jobs, subj, n})
		} else if t, ok := topo.JobsTarget(subj); ok && !strings.Contains(t, ".") {
			c.pending[t] = append(c.pending[t], storedOn{r.jobs, subj, n})
			c.legacy[t] += n
		} else if ok {
			c.orphans = append(c.orphans, Orphan{Subject: subj, StoredSubject: subj, Target: t, Messages: n})
		} else if t, ok := topo.RetryTarget(subj); ok {
			c.retrying[t] += n
		}
	}

	if r.sched == nil {
		st, err := r.js.Stream(ctx, topo.SchedStream())
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("stream %s: %w", topo.SchedStream(), err)
		}
		r.sched = st // nil: no scheduling stream (yet)
	}
	if r.sched != nil {
		filters := []string{topo.DuePartWildcard(), topo.DueWildcard()}
		if !backlogOnly {
			filters = append(filters, topo.SchedWildcard())
		}
		for _, f := range filters {
			subjects, err := subjectCounts(ctx, r.sched, f)
			if err != nil {
				return nil, err
			}
			for subj, n := range subjects {
				if _, t, ok := topo.PartTarget(subj); ok {
					c.pending[t] = append(c.pending[t], storedOn{r.sched, subj, n})
				} else if t, ok := topo.DueTarget(subj); ok {
					c.pending[t] = append(c.pending[t], storedOn{r.sched, subj, n})
					c.legacy[t] += n
				} else if t, ok := topo.RetryTarget(subj); ok {
					c.retrying[t] += n
				}
			}
		}
	}
	if backlogOnly {
		return c, nil
	}
	if c.dead, err = r.streamCounts(ctx, topo.DLQStream(), topo.DLQWildcard(), topo.DLQTarget); err != nil {
		return nil, err
	}
	if c.fallback, err = r.streamCounts(ctx, topo.FallbackStream(), topo.FallbackWildcard(), topo.FallbackTarget); err != nil {
		return nil, err
	}
	return c, nil
}

// published is the subject a stored subject was published on: a
// partition's subject maps back to <p>.jobs.<target> or <p>.due.<target>.
func (r *lagReader) published(stored string) string {
	_, t, ok := r.topo.PartTarget(stored)
	switch {
	case !ok:
		return stored
	case strings.HasPrefix(stored, strings.TrimSuffix(r.topo.DuePartWildcard(), ">")):
		return r.topo.DueSubject(t)
	}
	return r.topo.JobsSubject(t)
}

// consumers reads the partitions' consumers and, unless backlogOnly, the
// per-target consumers of an earlier release.
func (r *lagReader) consumers(ctx context.Context, lag *Lag, backlogOnly bool) error {
	topo := r.topo
	parts := map[int]*PartitionLag{}
	part := func(k int) *PartitionLag {
		if parts[k] == nil {
			parts[k] = &PartitionLag{Partition: k}
		}
		return parts[k]
	}
	for k := range lag.PartitionCount {
		part(k)
	}
	if backlogOnly {
		// By name: listing would read every legacy consumer too.
		for k := range lag.PartitionCount {
			for _, due := range []bool{false, true} {
				stream, name := topo.JobsStream(), topo.PartConsumerName(k)
				if due {
					stream, name = topo.SchedStream(), topo.DuePartConsumerName(k)
				}
				cons, err := r.js.Consumer(ctx, stream, name)
				if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
					continue
				}
				if err != nil {
					return fmt.Errorf("consumer %s: %w", name, err)
				}
				cl := consumerLag(cons.CachedInfo())
				if due {
					part(k).Due = &cl
				} else {
					part(k).Jobs = &cl
				}
			}
		}
	} else {
		// The streams counts looked up (r.sched nil: no scheduling stream).
		for _, src := range []struct {
			st           jetstream.Stream
			legacyPrefix string
			due          bool
		}{
			{r.jobs, topo.ConsumerName(""), false},
			{r.sched, topo.DueConsumerName(""), true},
		} {
			err := listConsumers(ctx, src.st, func(ci *jetstream.ConsumerInfo) {
				cl := consumerLag(ci)
				if k, ok := topo.PartConsumerIndex(ci.Name, src.due); ok {
					if src.due {
						part(k).Due = &cl
					} else {
						part(k).Jobs = &cl
					}
				} else if t, ok := strings.CutPrefix(ci.Name, src.legacyPrefix); ok && schemas.ValidTarget(t) {
					lag.LegacyConsumers = append(lag.LegacyConsumers, LegacyConsumerLag{Target: t, ConsumerLag: cl})
				}
			})
			if err != nil {
				return err
			}
		}
	}
	for _, p := range parts {
		lag.Partitions = append(lag.Partitions, *p)
	}
	slices.SortFunc(lag.Partitions, func(a, b PartitionLag) int { return a.Partition - b.Partition })
	slices.SortFunc(lag.LegacyConsumers, func(a, b LegacyConsumerLag) int {
		return strings.Compare(a.Stream+" "+a.Consumer, b.Stream+" "+b.Consumer)
	})
	return nil
}

// listConsumers calls each with the info of every consumer of st; a nil
// st (a stream that does not exist) has none.
func listConsumers(ctx context.Context, st jetstream.Stream, each func(*jetstream.ConsumerInfo)) error {
	if st == nil {
		return nil
	}
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		each(ci)
	}
	if err := l.Err(); err != nil {
		return fmt.Errorf("list consumers of %s: %w", st.CachedInfo().Config.Name, err)
	}
	return nil
}

func consumerLag(ci *jetstream.ConsumerInfo) ConsumerLag {
	return ConsumerLag{
		Stream: ci.Stream, Consumer: ci.Name,
		Pending: ci.NumPending, InFlight: ci.NumAckPending, Redelivered: ci.NumRedelivered,
		Delivered: ci.Delivered.Consumer, WaitingPulls: ci.NumWaiting,
		LastActive: latest(ci.Delivered.Last, ci.AckFloor.Last),
	}
}

// oldestJob is a lookup of the first message on a subject, for a target's
// row or (target nil) for lag.Orphans[orphan].
type oldestJob struct {
	on     storedOn
	target *TargetLag
	orphan int
}

// oldest looks up the first message of each subject, oldestWorkers at a
// time, and sets the rows' and orphans' oldest. A lookup that fails (the
// messages were acked meanwhile) leaves the oldest unset.
func (r *lagReader) oldest(ctx context.Context, lag *Lag, jobs []oldestJob) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan oldestJob)
	for range min(oldestWorkers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				at, ok := oldestOn(ctx, j.on.st, j.on.subject)
				if !ok {
					continue
				}
				mu.Lock()
				if j.target != nil {
					if j.target.OldestPendingAt == nil || at.Before(*j.target.OldestPendingAt) {
						j.target.OldestPendingAt, j.target.OldestPendingSeconds = &at, ageSeconds(lag.At, at)
					}
				} else {
					o := &lag.Orphans[j.orphan]
					o.OldestAt, o.OldestSeconds = &at, ageSeconds(lag.At, at)
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
}

// streamCounts is the message count of every subject of the named stream
// matching filter, by target; a stream that does not exist counts nothing.
func (r *lagReader) streamCounts(ctx context.Context, name, filter string, target func(string) (string, bool)) (map[string]uint64, error) {
	out := map[string]uint64{}
	st, err := r.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	subjects, err := subjectCounts(ctx, st, filter)
	if err != nil {
		return nil, err
	}
	for subj, n := range subjects {
		if t, ok := target(subj); ok {
			out[t] += n
		}
	}
	return out, nil
}

// subjectCounts returns the message count of every subject of st matching
// filter (nats.go pages through the server's answers, 100,000 subjects
// each).
func subjectCounts(ctx context.Context, st jetstream.Stream, filter string) (map[string]uint64, error) {
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("stream info %s: %w", filter, err)
	}
	return info.State.Subjects, nil // nil: none
}

// oldestOn returns when the first message on subj was stored.
func oldestOn(ctx context.Context, st jetstream.Stream, subj string) (time.Time, bool) {
	m, err := st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
	if err != nil {
		return time.Time{}, false
	}
	return m.Time.UTC(), true
}

func setOf(names []string) map[string]bool {
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out
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
