package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
)

// Migrating a jobs stream created before partitions. Such a stream allows
// scheduled messages (it held the retry copies of the versions before the
// scheduling stream, on <p>.retry.<target>.<seq>), so the server keeps
// rollups on and a publisher's Nats-Rollup header purges it; and JetStream
// cannot turn schedules off on an existing stream. The only way out is a
// new stream, and a JetStream stream cannot be renamed, so JobsMigration
// moves every message out and back in, in stages that a rerun can pick up
// after a crash or a kill at any point:
//
//  1. hold: create the holding stream (<S>_JOBS_MIGRATION); retire the old
//     stream onto <p>.migrating.retired.> with message deletes denied (no
//     publish reaches it any more, and no service can start against it:
//     its stream update would have to cancel deny-delete, which JetStream
//     refuses), then copy each of its messages, by sequence, to
//     <p>.migrating.held.<seq>.<subject> (a publish that expects the
//     subject to be empty, so a copy made by an earlier run is refused,
//     not doubled);
//  2. delete the old stream once everything is held;
//  3. create the new jobs stream (StreamConfigs: no schedules, no
//     rollups, the partitions' transform), its first sequence past the old
//     stream's last, so that no delivery key (DISPATCH_JOBS-<seq>) of the
//     old stream is ever a new one's (settle markers, scheduled copies and
//     records carry them in their message ids);
//  4. publish the held jobs again to <p>.jobs.<target> (or the subject they
//     were published on), and turn each held retry copy into a scheduled
//     copy in the scheduling stream; a held message is skipped when the
//     stream it goes to already holds it (looked up by message id: an
//     earlier run's publish, or a publisher's retry of the same job), and
//     the holding stream notes how far it went after each batch;
//  5. delete the holding stream.
//
// Nothing may consume the jobs stream meanwhile: Check refuses while an
// instance is live, or while a delivery had its outcome stored but not
// acked (a delivery merely not acked — handed back, or held by an instance
// that stopped — is moved like any job: JetStream counts it as ack pending
// until it is delivered again, so that count cannot be the test).

// MigrationStage is where a jobs stream migration stands.
type MigrationStage int

// The stages, in order.
const (
	// MigrationNotNeeded: the jobs stream allows no schedules and no
	// migration is under way.
	MigrationNotNeeded MigrationStage = iota
	// MigrationPending: the jobs stream allows schedules; nothing done yet.
	MigrationPending
	// MigrationCopying: the holding stream exists and so does the old jobs
	// stream (retired or about to be).
	MigrationCopying
	// MigrationRecreating: everything is held; there is no jobs stream.
	MigrationRecreating
	// MigrationRepublishing: the new jobs stream exists; the held
	// messages are being published again.
	MigrationRepublishing
)

var migrationStageNames = [...]string{"not_needed", "pending", "copying", "recreating", "republishing"}

// String is the stage's name, as --json shows it.
func (s MigrationStage) String() string {
	if s < 0 || int(s) >= len(migrationStageNames) {
		return "stage(" + strconv.Itoa(int(s)) + ")"
	}
	return migrationStageNames[s]
}

// MarshalText makes the stage its name in JSON.
func (s MigrationStage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ErrMigrationRefused is wrapped by a MigrationRefusal.
var ErrMigrationRefused = errors.New("migration refused")

// ErrMigrationConflict: the streams are not as a migration left them (the
// jobs stream was created anew by someone else while it ran).
var ErrMigrationConflict = errors.New("migration conflict")

// MigrationRefusal says why a migration may not run now.
type MigrationRefusal struct {
	// Live are the live instances of the fleet.
	Live []FleetInstance `json:"live_instances,omitempty"`
	// Unsettled are the sequences of the jobs stream's messages whose
	// delivery had its outcome stored (a settle marker) but was not acked:
	// moved to the new stream, such a job would be decided anew under a
	// new sequence instead of having that outcome redone.
	Unsettled []uint64 `json:"unsettled,omitempty"`
	// Storage, when not empty, says the account has no room for a copy
	// of the jobs stream.
	Storage string `json:"storage,omitempty"`
}

// ConsumerAckPending is a consumer with deliveries not acked: held by an
// instance, handed back (nak) or left by a stopped one, until delivered
// again and acked.
type ConsumerAckPending struct {
	Consumer   string `json:"consumer"`
	AckPending int    `json:"ack_pending"`
}

func (r *MigrationRefusal) Error() string {
	var why []string
	if n := len(r.Live); n > 0 {
		names := make([]string, 0, n)
		for _, in := range r.Live {
			names = append(names, in.Instance)
		}
		why = append(why, fmt.Sprintf("%d dispatcher instance(s) live (%s): stop every instance first (a killed one counts as live for 3 heartbeats)", n, strings.Join(names, ", ")))
	}
	if n := len(r.Unsettled); n > 0 {
		seqs := make([]string, 0, min(n, 5))
		for _, s := range r.Unsettled[:min(n, 5)] {
			seqs = append(seqs, strconv.FormatUint(s, 10))
		}
		why = append(why, fmt.Sprintf("%d deliveries of the jobs stream (sequence %s…) had their outcome stored but not acked (an instance stopped in between): "+
			"start the service so that it redoes them as they are delivered again (within AckWait), stop it, and rerun", n, strings.Join(seqs, ", ")))
	}
	if r.Storage != "" {
		why = append(why, r.Storage)
	}
	return "migration refused: " + strings.Join(why, "; ")
}

// Is makes errors.Is(err, ErrMigrationRefused) hold.
func (r *MigrationRefusal) Is(target error) bool { return target == ErrMigrationRefused }

// JobsMigrationSettings are the new jobs stream's settings. Zero values
// take the old stream's.
type JobsMigrationSettings struct {
	// Partitions is streams.partitions for the new stream's transform; 0:
	// the old stream's transform's, else config.DefaultPartitions.
	Partitions int
	// Replicas of the new stream (and of the holding stream); 0: the old
	// stream's.
	Replicas int
	// SettleWindow is the duplicate window of a scheduling stream created
	// because there is none; 0: MinSettleWindow.
	SettleWindow time.Duration
}

// MigrationStep names a step a migration reports as it goes.
type MigrationStep string

// The steps.
const (
	StepHolding    MigrationStep = "holding"    // the holding stream was created
	StepRetired    MigrationStep = "retired"    // the old stream takes no publish any more
	StepCopy       MigrationStep = "copy"       // messages copied to the holding stream (Done of Total)
	StepDeleted    MigrationStep = "deleted"    // the old stream is deleted
	StepCreated    MigrationStep = "created"    // the new stream exists: publishes work again
	StepRepublish  MigrationStep = "republish"  // held jobs published again (Done of Total)
	StepReschedule MigrationStep = "reschedule" // held retry copies scheduled again (Done of Total)
	StepWarning    MigrationStep = "warning"    // something the operator should know (Detail)
	StepFinished   MigrationStep = "finished"   // the holding stream is deleted
)

// MigrationEvent is one report of progress.
type MigrationEvent struct {
	Step   MigrationStep
	Done   int
	Total  int
	Detail string
}

// MigrationOption sets how a migration runs.
type MigrationOption func(*migrationOptions)

type migrationOptions struct {
	progress func(MigrationEvent)
	now      func() time.Time
}

// WithMigrationProgress has f called at each step (from the migrating
// goroutine).
func WithMigrationProgress(f func(MigrationEvent)) MigrationOption {
	return func(o *migrationOptions) {
		if f != nil {
			o.progress = f
		}
	}
}

// WithMigrationClock sets the clock that decides which retry copies are due.
func WithMigrationClock(now func() time.Time) MigrationOption {
	return func(o *migrationOptions) {
		if now != nil {
			o.now = now
		}
	}
}

// JobsMigration recreates a jobs stream created before partitions.
type JobsMigration struct {
	js   jetstream.JetStream
	nc   *nats.Conn
	topo schemas.Topology
	set  JobsMigrationSettings
	o    migrationOptions
}

// NewJobsMigration returns the migration of topo's jobs stream.
func NewJobsMigration(js jetstream.JetStream, topo schemas.Topology, set JobsMigrationSettings, opts ...MigrationOption) *JobsMigration {
	m := &JobsMigration{js: js, nc: js.Conn(), topo: topo, set: set,
		o: migrationOptions{progress: func(MigrationEvent) {}, now: time.Now}}
	for _, opt := range opts {
		opt(&m.o)
	}
	return m
}

// MigrationCheck is what Check found.
type MigrationCheck struct {
	Stage MigrationStage `json:"stage"`
	// Refusal is why the migration may not run now; nil when it may.
	Refusal *MigrationRefusal `json:"refusal,omitempty"`
	// Retired tells whether the old stream already takes no publish.
	Retired bool `json:"retired"`
	// Messages are the old stream's messages (before it is deleted), or
	// the holding stream's (after).
	Messages uint64 `json:"messages"`
	// AckPending are the jobs stream's consumers with deliveries not
	// acked. Without an outcome stored they are moved like any job.
	AckPending []ConsumerAckPending `json:"ack_pending,omitempty"`

	jobs, hold *jetstream.StreamInfo
}

// legacyJobs reports whether a jobs stream's config allows schedules.
func legacyJobs(si *jetstream.StreamInfo) bool { return si != nil && si.Config.AllowMsgSchedules }

// Check finds the migration's stage and whether it may run now.
func (m *JobsMigration) Check(ctx context.Context) (*MigrationCheck, error) {
	c := &MigrationCheck{}
	var err error
	if c.jobs, err = m.streamInfo(ctx, m.topo.JobsStream()); err != nil {
		return nil, err
	}
	if c.hold, err = m.streamInfo(ctx, m.topo.HoldingStream()); err != nil {
		return nil, err
	}
	switch {
	case c.jobs == nil && c.hold == nil:
		return nil, fmt.Errorf("%w: stream %s not found", ErrNoJobsStream, m.topo.JobsStream())
	case c.hold == nil && !legacyJobs(c.jobs):
		c.Stage = MigrationNotNeeded
		return c, nil
	case c.hold == nil:
		c.Stage = MigrationPending
	case c.jobs == nil:
		c.Stage = MigrationRecreating
	case legacyJobs(c.jobs):
		c.Stage = MigrationCopying
	default:
		c.Stage = MigrationRepublishing
	}
	c.Retired = c.jobs != nil && m.retired(c.jobs)
	if c.Stage <= MigrationCopying {
		c.Messages = c.jobs.State.Msgs
	} else {
		c.Messages = c.hold.State.Msgs
	}
	ref := &MigrationRefusal{}
	fleet, err := ReadFleet(ctx, m.js, m.topo, m.o.now())
	if err != nil {
		return nil, fmt.Errorf("read the fleet: %w", err)
	}
	ref.Live = fleet.Instances
	if c.jobs != nil {
		if c.AckPending, err = m.ackPending(ctx); err != nil {
			return nil, err
		}
		if ref.Unsettled, err = m.unsettled(ctx); err != nil {
			return nil, err
		}
	}
	if c.Stage <= MigrationCopying {
		if ref.Storage, err = m.storageShort(ctx, c); err != nil {
			return nil, err
		}
	}
	if len(ref.Live) > 0 || len(ref.Unsettled) > 0 || ref.Storage != "" {
		c.Refusal = ref
	}
	return c, nil
}

// streamInfo is the stream's info, nil when there is no such stream.
func (m *JobsMigration) streamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	st, err := m.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	return st.CachedInfo(), nil
}

// retired reports whether the old jobs stream was retired by a migration.
func (m *JobsMigration) retired(si *jetstream.StreamInfo) bool {
	return si.Config.DenyDelete && len(si.Config.Subjects) == 1 && si.Config.Subjects[0] == m.topo.RetiredWildcard()
}

// ackPending lists the jobs stream's consumers holding unacked deliveries.
func (m *JobsMigration) ackPending(ctx context.Context) ([]ConsumerAckPending, error) {
	st, err := m.js.Stream(ctx, m.topo.JobsStream())
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", m.topo.JobsStream(), err)
	}
	var out []ConsumerAckPending
	err = listConsumers(ctx, st, func(ci *jetstream.ConsumerInfo) {
		if ci.NumAckPending > 0 {
			out = append(out, ConsumerAckPending{Consumer: ci.Name, AckPending: ci.NumAckPending})
		}
	})
	return out, err
}

// unsettled lists the jobs stream's messages that a delivery settled (the
// scheduling stream holds its settle marker, <p>.settled.<jobs
// stream>-<seq>, worker/settle.go) without acking them.
func (m *JobsMigration) unsettled(ctx context.Context) ([]uint64, error) {
	st, err := m.js.Stream(ctx, m.topo.SchedStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", m.topo.SchedStream(), err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(m.topo.SettledWildcard()))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", m.topo.SchedStream(), err)
	}
	prefix := m.topo.SettledSubject(m.topo.JobsStream() + "-")
	var out []uint64
	for subj := range info.State.Subjects {
		seq, err := strconv.ParseUint(strings.TrimPrefix(subj, prefix), 10, 64)
		if !strings.HasPrefix(subj, prefix) || err != nil {
			continue
		}
		msg, err := m.getMsg(ctx, m.topo.JobsStream(), seq, "")
		if err != nil {
			return nil, err
		}
		if msg != nil && msg.Sequence == seq {
			out = append(out, seq)
		}
	}
	slices.Sort(out)
	return out, nil
}

// storageShort says why the account cannot hold a copy of the jobs stream
// beside it ("" when it can, or when its storage is not limited).
func (m *JobsMigration) storageShort(ctx context.Context, c *MigrationCheck) (string, error) {
	ai, err := m.js.AccountInfo(ctx)
	if err != nil {
		return "", fmt.Errorf("account info: %w", err)
	}
	need := c.jobs.State.Bytes
	if c.hold != nil {
		need -= min(need, c.hold.State.Bytes)
	}
	if ai.Limits.MaxStore > 0 && ai.Store+need > uint64(ai.Limits.MaxStore) {
		return fmt.Sprintf("the account's JetStream storage (%d of %d bytes used) has no room for a copy of %s (%d bytes)",
			ai.Store, ai.Limits.MaxStore, m.topo.JobsStream(), need), nil
	}
	return "", nil
}

// MigrationCounts are the messages of a jobs stream by what becomes of them.
type MigrationCounts struct {
	// Jobs stored on <p>.jobs.<target> (before the partitions' transform).
	Jobs int `json:"jobs"`
	// Partitioned jobs, stored on <p>.part.<k>.<target>.
	Partitioned int `json:"partitioned"`
	// MultiToken jobs, stored as published on <p>.jobs.<a>.<b>…: orphans.
	MultiToken int `json:"multi_token"`
	// RetryCopies are scheduled copies on <p>.retry.<target>.<seq>;
	// RetryCopiesDue of them are due already (they are scheduled for now).
	RetryCopies    int `json:"retry_copies"`
	RetryCopiesDue int `json:"retry_copies_due"`
	// RetryCopiesFired are held retry copies that fired while being
	// copied: their job is among the held jobs, so the copy is dropped.
	RetryCopiesFired int `json:"retry_copies_fired"`
	// Other messages: on <p>.retry.> but of no valid target; published to
	// <p>.jobs.<rest of the subject>.
	Other int `json:"other"`
}

// Messages is the total.
func (c MigrationCounts) Messages() int {
	return c.Jobs + c.Partitioned + c.MultiToken + c.RetryCopies + c.Other
}

// heldKind is what a message of the old jobs stream is.
type heldKind int

const (
	heldJob heldKind = iota
	heldPartitioned
	heldMultiToken
	heldRetry
	heldOther
)

// classify tells what the message stored on subject in the old jobs
// stream is, its target (retry copies) and where it is published again
// (jobs).
func (m *JobsMigration) classify(subject string) (kind heldKind, target, dest string) {
	if t, ok := m.topo.JobsTarget(subject); ok {
		if strings.Contains(t, ".") {
			return heldMultiToken, "", subject
		}
		return heldJob, t, subject
	}
	if _, t, ok := m.topo.PartTarget(subject); ok && strings.HasPrefix(subject, m.topo.Prefix+".part.") {
		return heldPartitioned, t, m.topo.JobsSubject(t)
	}
	if rest, ok := strings.CutPrefix(subject, m.topo.Prefix+".retry."); ok && rest != "" {
		if t, ok := m.topo.RetryTarget(subject); ok && schemas.ValidTarget(t) {
			return heldRetry, t, ""
		}
		return heldOther, "", m.topo.JobsSubject(rest)
	}
	return heldOther, "", subject
}

// count adds a message of kind to c; due tells whether a retry copy is
// due already.
func (c *MigrationCounts) count(kind heldKind, due bool) {
	switch kind {
	case heldJob:
		c.Jobs++
	case heldPartitioned:
		c.Partitioned++
	case heldMultiToken:
		c.MultiToken++
	case heldRetry:
		c.RetryCopies++
		if due {
			c.RetryCopiesDue++
		}
	default:
		c.Other++
	}
}

// Count reads what the migration would move: the old jobs stream's
// messages before it is deleted, the held ones after. It changes nothing.
func (m *JobsMigration) Count(ctx context.Context, c *MigrationCheck) (MigrationCounts, error) {
	var out MigrationCounts
	now := m.o.now()
	fired := map[string]bool{}
	var retries []string
	read := func(subject string, h nats.Header, schedHdr, schedulerHdr string) {
		kind, _, _ := m.classify(subject)
		due := false
		if kind == heldRetry {
			at, _ := scheduledAt(h.Get(schedHdr))
			due = !at.After(now)
			retries = append(retries, subject)
		} else if s := h.Get(schedulerHdr); s != "" {
			fired[s] = true
		}
		out.count(kind, due)
	}
	var err error
	switch c.Stage {
	case MigrationNotNeeded:
		return out, nil
	case MigrationPending, MigrationCopying:
		err = m.readGrowing(ctx, m.topo.JobsStream(), ">", func(msg *jetstream.RawStreamMsg) error {
			read(msg.Subject, msg.Header, scheduleHeader, schedulerHeader)
			return nil
		})
	default:
		err = m.readAll(ctx, m.topo.HoldingStream(), m.topo.HeldWildcard(), func(msg *jetstream.RawStreamMsg) error {
			if _, orig, ok := m.topo.HeldSource(msg.Subject); ok {
				read(orig, msg.Header, heldScheduleHeader, heldSchedulerHeader)
			}
			return nil
		})
	}
	for _, s := range retries {
		if fired[s] {
			out.RetryCopiesFired++
		}
	}
	return out, err
}

// scheduledAt is the time of a Nats-Schedule value "@at <RFC 3339>"; ok is
// false for anything else.
func scheduledAt(v string) (time.Time, bool) {
	s, ok := strings.CutPrefix(v, "@at ")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	return t, err == nil
}

// MigrationReport is what a run did.
type MigrationReport struct {
	// Stage is where the migration stood when the run began.
	Stage      MigrationStage `json:"stage"`
	JobsStream string         `json:"jobs_stream"`
	Holding    string         `json:"holding_stream"`
	// Counts are the held messages by kind (once they are all held).
	Counts MigrationCounts `json:"counts"`
	// Copied to the holding stream by this run; AlreadyHeld by an earlier one.
	Copied      int `json:"copied"`
	AlreadyHeld int `json:"already_held"`
	// Republished jobs; AlreadyStored were in the new jobs stream already
	// (an earlier run's publish, a publisher's retry of the job).
	Republished   int `json:"republished"`
	AlreadyStored int `json:"already_stored"`
	// Rescheduled retry copies; AlreadyScheduled were in the scheduling
	// stream already (or fired from it).
	Rescheduled      int `json:"rescheduled"`
	AlreadyScheduled int `json:"already_scheduled"`
	// DoneBefore held messages were published again by an earlier run.
	DoneBefore int `json:"done_before"`
	// Partitions and FirstSeq of the new jobs stream.
	Partitions int    `json:"partitions"`
	FirstSeq   uint64 `json:"first_seq"`
	// Window is how long publishes failed (the old stream retired to the
	// new one created) when both happened in this run.
	Window time.Duration `json:"-"`
	Took   time.Duration `json:"-"`
}

// Header names of the holding stream: a held message keeps its job's
// headers but none of NATS's (they would act on the holding stream); the
// ones that matter are kept under these names.
const (
	heldPrefix          = "Dispatch-Held-"
	heldMsgIDHeader     = heldPrefix + "Msg-Id"    // the job's Nats-Msg-Id
	heldScheduleHeader  = heldPrefix + "Schedule"  // a retry copy's Nats-Schedule
	heldSchedulerHeader = heldPrefix + "Scheduler" // a fired copy's Nats-Scheduler

	scheduleHeader       = "Nats-Schedule"
	scheduleTargetHeader = "Nats-Schedule-Target"
	schedulerHeader      = "Nats-Scheduler"
)

// Metadata keys of the holding stream: the plan of the migration.
const (
	planJobsCreated = "dispatcher.jobs_created"
	planPartitions  = "dispatcher.partitions"
	planReplicas    = "dispatcher.replicas"
	planJobsLastSeq = "dispatcher.jobs_last_seq"
)

// migrationPlan is what the holding stream's metadata records.
type migrationPlan struct {
	jobsCreated string
	partitions  int
	replicas    int
	jobsLastSeq uint64
}

func readPlan(md map[string]string) (migrationPlan, error) {
	p := migrationPlan{jobsCreated: md[planJobsCreated]}
	var err1, err2, err3 error
	p.partitions, err1 = strconv.Atoi(md[planPartitions])
	p.replicas, err2 = strconv.Atoi(md[planReplicas])
	if v := md[planJobsLastSeq]; v != "" {
		p.jobsLastSeq, err3 = strconv.ParseUint(v, 10, 64)
	}
	if err := errors.Join(err1, err2, err3); err != nil || p.partitions < 1 || p.replicas < 1 {
		return p, fmt.Errorf("%w: the holding stream's metadata is not a migration plan: %v", ErrMigrationConflict, md)
	}
	return p, nil
}

// Run runs the migration from wherever it stands to its end.
func (m *JobsMigration) Run(ctx context.Context) (*MigrationReport, error) {
	start := time.Now()
	c, err := m.Check(ctx)
	if err != nil {
		return nil, err
	}
	rep := &MigrationReport{Stage: c.Stage, JobsStream: m.topo.JobsStream(), Holding: m.topo.HoldingStream()}
	defer func() { rep.Took = time.Since(start) }()
	if c.Stage == MigrationNotNeeded {
		return rep, nil
	}
	if c.Refusal != nil {
		return rep, c.Refusal
	}
	var retiredAt time.Time
	if c.Stage <= MigrationCopying {
		if retiredAt, err = m.hold(ctx, c, rep); err != nil {
			return rep, err
		}
	}
	plan, err := m.plan(ctx)
	if err != nil {
		return rep, err
	}
	rep.Partitions, rep.FirstSeq = plan.partitions, plan.jobsLastSeq+1
	if c.Stage <= MigrationRecreating {
		if err := m.recreate(ctx, plan); err != nil {
			return rep, err
		}
		if !retiredAt.IsZero() {
			rep.Window = time.Since(retiredAt)
		}
		m.o.progress(MigrationEvent{Step: StepCreated, Detail: rep.Window.String()})
		migrateCrash("created", 0)
	}
	if err := m.republish(ctx, plan, rep); err != nil {
		return rep, err
	}
	migrateCrash("finishing", 0)
	if err := m.js.DeleteStream(ctx, m.topo.HoldingStream()); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return rep, fmt.Errorf("delete the holding stream %s: %w", m.topo.HoldingStream(), err)
	}
	m.o.progress(MigrationEvent{Step: StepFinished})
	return rep, nil
}

// plan reads the holding stream's plan.
func (m *JobsMigration) plan(ctx context.Context) (migrationPlan, error) {
	hi, err := m.streamInfo(ctx, m.topo.HoldingStream())
	if err != nil {
		return migrationPlan{}, err
	}
	if hi == nil {
		return migrationPlan{}, fmt.Errorf("%w: the holding stream %s is gone", ErrMigrationConflict, m.topo.HoldingStream())
	}
	return readPlan(hi.Config.Metadata)
}

// holdingConfig is the holding stream's config for plan md.
func (m *JobsMigration) holdingConfig(replicas int, md map[string]string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        m.topo.HoldingStream(),
		Description: "dispatcher streams migrate-jobs: the messages of " + m.topo.JobsStream() + " while it is recreated",
		Subjects:    []string{m.topo.HeldWildcard(), m.topo.MigrationProgressSubject()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		// Held subjects are one per message; the progress note keeps
		// its last value only.
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardNew,
		Metadata:          md,
	}
}

// hold creates (or checks) the holding stream, retires the old jobs
// stream, copies every message of it, and deletes it. It returns when the
// old stream was retired, if by this run.
func (m *JobsMigration) hold(ctx context.Context, c *MigrationCheck, rep *MigrationReport) (retiredAt time.Time, err error) {
	jobs := c.jobs
	created := jobs.Created.UTC().Format(time.RFC3339Nano)
	if c.hold == nil {
		parts := m.set.Partitions
		if parts <= 0 && jobs.Config.SubjectTransform != nil {
			parts, _ = m.topo.TransformPartitions(jobs.Config.SubjectTransform.Destination)
		}
		if parts <= 0 {
			parts = config.DefaultPartitions
		}
		replicas := m.set.Replicas
		if replicas <= 0 {
			replicas = max(jobs.Config.Replicas, 1)
		}
		md := map[string]string{planJobsCreated: created, planPartitions: strconv.Itoa(parts), planReplicas: strconv.Itoa(replicas)}
		if _, err := m.js.CreateStream(ctx, m.holdingConfig(replicas, md)); err != nil {
			return retiredAt, fmt.Errorf("create the holding stream %s: %w", m.topo.HoldingStream(), err)
		}
		m.o.progress(MigrationEvent{Step: StepHolding})
		migrateCrash("holding", 0)
	} else if got := c.hold.Config.Metadata[planJobsCreated]; got != created {
		return retiredAt, fmt.Errorf("%w: %s was created at %s, but the migration under way began with one created at %s: it was recreated meanwhile (by a service of an earlier version?)",
			ErrMigrationConflict, m.topo.JobsStream(), created, got)
	}

	if !m.retired(jobs) {
		cfg := jobs.Config
		cfg.Subjects = []string{m.topo.RetiredWildcard()}
		cfg.SubjectTransform = nil
		cfg.DenyDelete = true
		cfg.Description = "dispatcher jobs, being migrated by 'dispatcher streams migrate-jobs'"
		if _, err := m.js.UpdateStream(ctx, cfg); err != nil {
			return retiredAt, fmt.Errorf("retire %s: %w", m.topo.JobsStream(), err)
		}
		retiredAt = time.Now()
		m.o.progress(MigrationEvent{Step: StepRetired, Detail: m.topo.RetiredWildcard()})
		migrateCrash("retired", 0)
	}

	if err := m.copyAll(ctx, rep); err != nil {
		return retiredAt, err
	}

	// The new stream starts past every sequence the old one used.
	st, err := m.js.Stream(ctx, m.topo.JobsStream())
	if err != nil {
		return retiredAt, fmt.Errorf("stream %s: %w", m.topo.JobsStream(), err)
	}
	hi, err := m.streamInfo(ctx, m.topo.HoldingStream())
	if err != nil || hi == nil {
		return retiredAt, fmt.Errorf("the holding stream %s: %w", m.topo.HoldingStream(), errors.Join(err, ErrMigrationConflict))
	}
	cfg := hi.Config
	cfg.Metadata[planJobsLastSeq] = strconv.FormatUint(st.CachedInfo().State.LastSeq, 10)
	if _, err := m.js.UpdateStream(ctx, cfg); err != nil {
		return retiredAt, fmt.Errorf("note the last sequence of %s: %w", m.topo.JobsStream(), err)
	}
	migrateCrash("copied", 0)
	if err := m.js.DeleteStream(ctx, m.topo.JobsStream()); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return retiredAt, fmt.Errorf("delete %s: %w", m.topo.JobsStream(), err)
	}
	m.o.progress(MigrationEvent{Step: StepDeleted})
	migrateCrash("deleted", 0)
	return retiredAt, nil
}

// copyAll copies every message of the retired jobs stream to the holding
// stream, until a pass finds nothing new (retry copies still fire while
// it runs: a fired copy is a new message, and its retry copy is gone).
func (m *JobsMigration) copyAll(ctx context.Context, rep *MigrationReport) error {
	st, err := m.js.Stream(ctx, m.topo.JobsStream())
	if err != nil {
		return fmt.Errorf("stream %s: %w", m.topo.JobsStream(), err)
	}
	total := int(st.CachedInfo().State.Msgs)
	b := &batch{m: m, crashPoint: "copy"}
	b.result = func(it *batchItem, _ *jetstream.PubAck, err error) error {
		switch {
		case err == nil:
			rep.Copied++
		case wrongLastSeq(err):
			rep.AlreadyHeld++
		default:
			return fmt.Errorf("copy %s message %d to %s: %w", m.topo.JobsStream(), it.seq, m.topo.HoldingStream(), err)
		}
		return nil
	}
	b.flushed = func(*batchItem) error {
		m.o.progress(MigrationEvent{Step: StepCopy, Done: rep.Copied + rep.AlreadyHeld, Total: total})
		return nil
	}
	maxPayload := int(m.nc.MaxPayload())
	err = m.readGrowing(ctx, m.topo.JobsStream(), ">", func(msg *jetstream.RawStreamMsg) error {
		hm, err := m.heldMsg(msg, maxPayload)
		if err != nil {
			return err
		}
		return b.add(ctx, &batchItem{msg: hm, seq: msg.Sequence, opts: []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(0)}})
	})
	if err == nil {
		err = b.flush(ctx)
	}
	if err != nil {
		return err
	}
	m.o.progress(MigrationEvent{Step: StepCopy, Done: rep.Copied + rep.AlreadyHeld, Total: rep.Copied + rep.AlreadyHeld, Detail: "done"})
	return nil
}

// wrongLastSeq reports whether err is JetStream refusing a publish that
// expected its subject to be empty: the message is held already.
func wrongLastSeq(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && (ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// heldMsg is the holding stream's copy of msg: on HeldSubject, the data
// unchanged, every header but NATS's (and but ours: a publisher's
// Dispatch-Held-* are dropped), and the NATS headers that matter under
// Dispatch-Held-* names. It fits maxPayload as msg did: when keeping the
// job's message id makes it too large, the id is left out (the job is
// then published again under an id of the migration's).
func (m *JobsMigration) heldMsg(msg *jetstream.RawStreamMsg, maxPayload int) (*nats.Msg, error) {
	hm := nats.NewMsg(m.topo.HeldSubject(msg.Sequence, msg.Subject))
	hm.Data = msg.Data
	for k, vs := range msg.Header {
		if strings.HasPrefix(k, "Nats-") || strings.HasPrefix(k, heldPrefix) {
			continue
		}
		hm.Header[k] = vs
	}
	for from, to := range map[string]string{scheduleHeader: heldScheduleHeader, schedulerHeader: heldSchedulerHeader} {
		if v := msg.Header.Get(from); v != "" {
			hm.Header.Set(to, v)
		}
	}
	if msgSize(hm) > maxPayload {
		return nil, fmt.Errorf("%s message %d (%d bytes) does not fit the NATS max payload (%d bytes): raise max_payload and rerun",
			m.topo.JobsStream(), msg.Sequence, msgSize(hm), maxPayload)
	}
	if v := msg.Header.Get(jetstream.MsgIDHeader); v != "" {
		hm.Header.Set(heldMsgIDHeader, v)
		if msgSize(hm) > maxPayload {
			hm.Header.Del(heldMsgIDHeader)
		}
	}
	return hm, nil
}

// msgSize is what the NATS max payload is compared with: the encoded
// headers and the data.
func msgSize(m *nats.Msg) int { return m.Size() - len(m.Subject) - len(m.Reply) }

// recreate creates the new jobs stream: no schedules, no rollups, the
// partitions' transform, its first sequence past the old stream's last.
func (m *JobsMigration) recreate(ctx context.Context, plan migrationPlan) error {
	cfg := StreamConfigs(m.topo, StreamSettings{Replicas: plan.replicas, Partitions: plan.partitions})[0]
	cfg.FirstSeq = plan.jobsLastSeq + 1
	_, err := m.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil // republish looks at what it is
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", m.topo.JobsStream(), err)
	}
	return nil
}

// migrateCrash is a test hook: a build with the crashhook tag kills the
// process at the point DISPATCHER_TEST_MIGRATE_CRASH names
// (migrate_jobs_crashhook.go).
var migrateCrash = func(point string, n int) {}
