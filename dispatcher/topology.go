package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// StreamSettings are the parts of the stream configs the service owns.
type StreamSettings struct {
	Replicas         int
	DeadLetterMaxAge time.Duration
	FallbackMaxAge   time.Duration
	// AuditMaxAge is the audit stream's max age; zero means
	// audit.DefaultMaxAge.
	AuditMaxAge time.Duration
	// SettleWindow is the duplicate window of the streams the service
	// alone writes to (scheduling, dead letters, fallback): a redelivered
	// copy that redoes its delivery's outcome within it stores nothing
	// twice (worker/settle.go). Zero means MinSettleWindow.
	SettleWindow time.Duration
	// Partitions is streams.partitions: the subject transforms of the jobs
	// and scheduling streams map each target to one of them. Zero means
	// config.DefaultPartitions.
	Partitions int
	// Legacy is set when the jobs stream exists and allows scheduled
	// messages (created by a version before partitions): that cannot be
	// turned off on an existing stream, so its flags are kept (docs/runbook.md
	// says how to recreate it).
	Legacy bool
}

// ErrMigrating is wrapped by EnsureStreams while 'dispatcher streams
// migrate-jobs' has the jobs stream retired: the service cannot start
// until the command has finished.
var ErrMigrating = errors.New("jobs stream being migrated")

// LegacyJobsStream reports whether the jobs stream was created by a version
// before partitions: it allows scheduled messages (and so rollups) until
// 'dispatcher streams migrate-jobs' recreates it.
func LegacyJobsStream(ctx context.Context, js jetstream.JetStream, t schemas.Topology) (bool, error) {
	st, err := js.Stream(ctx, t.JobsStream())
	if err != nil {
		return false, err
	}
	return st.CachedInfo().Config.AllowMsgSchedules, nil
}

// MinSettleWindow is the smallest settle window.
const MinSettleWindow = 15 * time.Minute

// SettleWindow is the settle window for cfg's targets: twice the longest
// AckWait of a consumer a delivery can come from (the delay of a
// redelivery after a crash), at least MinSettleWindow.
func SettleWindow(cfg *config.Config) time.Duration {
	w := max(MinSettleWindow, 2*worker.AckWait)
	for _, tg := range cfg.Targets {
		w = max(w, 2*worker.LegacyAckWait(tg))
	}
	return w
}

// StreamConfigs returns the configs of the streams (jobs, scheduling, dead
// letters, fallback, audit) of topology t as EnsureStreams creates them;
// deploy/nats/streams holds them as JSON for 'nats stream add --config'.
func StreamConfigs(t schemas.Topology, s StreamSettings) []jetstream.StreamConfig {
	r := max(s.Replicas, 1)
	window := max(s.SettleWindow, MinSettleWindow)
	n := s.Partitions
	if n <= 0 {
		n = config.DefaultPartitions
	}
	jobs := jetstream.StreamConfig{
		Name:        t.JobsStream(),
		Description: "dispatcher jobs",
		Subjects:    []string{t.JobsWildcard()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
		// Publishers write here: no scheduled messages and no rollups, so
		// that no header of theirs can purge a pending job.
		AllowDirect: true,
	}
	jobs.SubjectTransform = &jetstream.SubjectTransformConfig{}
	jobs.SubjectTransform.Source, jobs.SubjectTransform.Destination = t.JobsTransform(n)
	if s.Legacy {
		// Created before partitions: <p>.retry.> holds copies scheduled
		// before the scheduling stream existed (they fire onto
		// <p>.jobs.<target>), and schedules cannot be turned off on a
		// stream once on.
		jobs.Subjects = append(jobs.Subjects, t.RetryWildcard())
		jobs.AllowMsgSchedules, jobs.AllowRollup = true, true
	}
	sched := &jetstream.SubjectTransformConfig{}
	sched.Source, sched.Destination = t.DueTransform(n)
	return []jetstream.StreamConfig{
		jobs,
		{
			Name:        t.SchedStream(),
			Description: "dispatcher scheduled copies of jobs (retries, postponements, holds) and settle markers",
			Subjects:    []string{t.SchedWildcard(), t.DueWildcard(), t.SettledWildcard()},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    r,
			Discard:     jetstream.DiscardOld,
			// Only the service writes here: a long window costs one id per
			// copy or marker, and makes a redone outcome a duplicate.
			Duplicates:        window,
			AllowMsgSchedules: true,
			AllowRollup:       true, // forced on by schedules
			AllowMsgTTL:       true, // settle markers expire
			AllowDirect:       true,
			SubjectTransform:  sched,
		},
		{
			Name:        t.DLQStream(),
			Description: "dispatcher dead letters",
			Subjects:    []string{t.DLQWildcard()},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    r,
			MaxAge:      s.DeadLetterMaxAge,
			Duplicates:  window,
			AllowDirect: true,
		},
		{
			Name:        t.FallbackStream(),
			Description: "dispatcher fallback records (circuit open)",
			Subjects:    []string{t.FallbackWildcard()},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    r,
			MaxAge:      s.FallbackMaxAge,
			Duplicates:  window,
			AllowDirect: true,
		},
		audit.StreamConfig(t, s.AuditMaxAge, r),
	}
}

// EnsureStreams creates or updates the streams. Doing so twice with the
// same settings changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, t schemas.Topology, s StreamSettings) error {
	if st, err := js.Stream(ctx, t.JobsStream()); err == nil {
		cfg := st.CachedInfo().Config
		if slices.Contains(cfg.Subjects, t.RetiredWildcard()) {
			return fmt.Errorf("%w: stream %s is being recreated by 'dispatcher streams migrate-jobs': run it again to finish", ErrMigrating, t.JobsStream())
		}
		s.Legacy = cfg.AllowMsgSchedules
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s: %w", t.JobsStream(), err)
	}
	for _, sc := range StreamConfigs(t, s) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// partitionConsumer is the durable pull consumer of partition k, on the
// jobs stream or (due) on the scheduling stream, shared by every instance.
// Deliveries held are kept fresh by their intake, so AckWait only bounds
// how long a crashed instance's deliveries wait for redelivery; an
// intake holds at most its budget, so MaxAckPending only needs room for
// what a fleet holds and what a crashed instance left.
func partitionConsumer(t schemas.Topology, k int, due bool) jetstream.ConsumerConfig {
	name, filter, what := t.PartConsumerName(k), t.PartFilter(k), "jobs"
	if due {
		name, filter, what = t.DuePartConsumerName(k), t.DuePartFilter(k), "scheduled copies"
	}
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "dispatcher partition " + strconv.Itoa(k) + " (" + what + ")",
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       worker.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: partitionMaxAckPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
}

// partitionMaxAckPending is each partition consumer's MaxAckPending: a
// dozen instances each holding its largest budget.
const partitionMaxAckPending = 50000

// EnsurePartitions creates or updates the durable consumers of partitions
// 0…n-1: jobs[k] on the jobs stream, due[k] on the scheduling stream.
func EnsurePartitions(ctx context.Context, js jetstream.JetStream, t schemas.Topology, n int) (jobs, due []jetstream.Consumer, err error) {
	for k := range n {
		for _, isDue := range []bool{false, true} {
			stream := t.JobsStream()
			if isDue {
				stream = t.SchedStream()
			}
			cc := partitionConsumer(t, k, isDue)
			c, err := js.CreateOrUpdateConsumer(ctx, stream, cc)
			if err != nil {
				return nil, nil, fmt.Errorf("consumer %s: %w", cc.Durable, err)
			}
			if isDue {
				due = append(due, c)
			} else {
				jobs = append(jobs, c)
			}
		}
	}
	return jobs, due, nil
}
