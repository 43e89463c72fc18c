package dispatcher

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// StreamSettings are the parts of the stream configs the service owns.
type StreamSettings struct {
	Replicas         int
	DeadLetterMaxAge time.Duration
	FallbackMaxAge   time.Duration
	// SettleWindow is the duplicate window of the streams the service
	// alone writes to (scheduling, dead letters, fallback): a redelivered
	// copy that redoes its delivery's outcome within it stores nothing
	// twice (worker/settle.go). Zero means MinSettleWindow.
	SettleWindow time.Duration
}

// MinSettleWindow is the smallest settle window.
const MinSettleWindow = 15 * time.Minute

// SettleWindow is the settle window for cfg's targets: twice the longest
// AckWait (the delay of a redelivery after a crash), at least
// MinSettleWindow.
func SettleWindow(cfg *config.Config) time.Duration {
	w := MinSettleWindow
	for _, tg := range cfg.Targets {
		w = max(w, 2*worker.AckWait(tg))
	}
	return w
}

// StreamConfigs returns the configs of the streams (jobs, scheduling, dead
// letters, fallback) of topology t as EnsureStreams creates them;
// deploy/nats/streams holds them as JSON for 'nats stream add --config'.
func StreamConfigs(t schemas.Topology, s StreamSettings) []jetstream.StreamConfig {
	r := max(s.Replicas, 1)
	window := max(s.SettleWindow, MinSettleWindow)
	return []jetstream.StreamConfig{
		{
			Name:        t.JobsStream(),
			Description: "dispatcher jobs",
			// <p>.retry.> holds copies scheduled before the scheduling
			// stream existed; they fire onto <p>.jobs.<target>.
			Subjects:   []string{t.JobsWildcard(), t.RetryWildcard()},
			Retention:  jetstream.WorkQueuePolicy,
			Storage:    jetstream.FileStorage,
			Replicas:   r,
			Discard:    jetstream.DiscardOld,
			Duplicates: 2 * time.Minute,
			// Kept for the copies above: a stream's schedules cannot be
			// turned off once on.
			AllowMsgSchedules: true,
			AllowRollup:       true,
			AllowDirect:       true,
		},
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
	}
}

// EnsureStreams creates or updates the streams. Doing so twice with the
// same settings changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, t schemas.Topology, s StreamSettings) error {
	for _, sc := range StreamConfigs(t, s) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// consumerConfig is a durable pull consumer of one target: on the jobs
// stream (filter <p>.jobs.<target>) or, due, on the scheduling stream
// (filter <p>.due.<target>). Deliveries waiting in the worker's lane are
// kept fresh, so AckWait only covers a call; retries do not hold a slot, so
// MaxAckPending only needs room for what a few instances hold and messages
// of a crashed instance awaiting redelivery.
func consumerConfig(t schemas.Topology, tg worker.Target, due bool) jetstream.ConsumerConfig {
	conc := max(tg.Concurrency, 1)
	name, filter, what := t.ConsumerName(tg.Name), t.JobsSubject(tg.Name), "jobs"
	if due {
		name, filter, what = t.DueConsumerName(tg.Name), t.DueSubject(tg.Name), "scheduled copies"
	}
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "dispatcher worker of target " + tg.Name + " (" + what + ")",
		FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       worker.AckWait(tg),
		MaxDeliver:    -1,
		MaxAckPending: max(1000, 4*conc),
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
}

// EnsureConsumers creates or updates the durable consumers of a target: its
// jobs' and its scheduled copies'.
func EnsureConsumers(ctx context.Context, js jetstream.JetStream, t schemas.Topology, tg worker.Target) ([]jetstream.Consumer, error) {
	jobs, err := js.CreateOrUpdateConsumer(ctx, t.JobsStream(), consumerConfig(t, tg, false))
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", t.ConsumerName(tg.Name), err)
	}
	due, err := js.CreateOrUpdateConsumer(ctx, t.SchedStream(), consumerConfig(t, tg, true))
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", t.DueConsumerName(tg.Name), err)
	}
	return []jetstream.Consumer{jobs, due}, nil
}
