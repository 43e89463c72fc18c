package dispatcher

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// StreamSettings are the parts of the stream configs the service owns.
type StreamSettings struct {
	Replicas         int
	DeadLetterMaxAge time.Duration
	FallbackMaxAge   time.Duration
}

// StreamConfigs returns the configs of the three streams (jobs, dead
// letters, fallback) of topology t as EnsureStreams creates them;
// deploy/nats/streams holds them as JSON for 'nats stream add --config'.
func StreamConfigs(t schemas.Topology, s StreamSettings) []jetstream.StreamConfig {
	r := max(s.Replicas, 1)
	return []jetstream.StreamConfig{
		{
			Name:        t.JobsStream(),
			Description: "dispatcher jobs (and their scheduled retries)",
			Subjects:    []string{t.JobsWildcard(), t.RetryWildcard()},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    r,
			Discard:     jetstream.DiscardOld,
			Duplicates:  2 * time.Minute,
			// Retries are scheduled messages: they hold no consumer slot.
			AllowMsgSchedules: true,
			AllowRollup:       true,
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
			Duplicates:  2 * time.Minute,
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
			Duplicates:  2 * time.Minute,
			AllowDirect: true,
		},
	}
}

// EnsureStreams creates or updates the three streams. Doing so twice with the
// same settings changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, t schemas.Topology, s StreamSettings) error {
	for _, sc := range StreamConfigs(t, s) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// consumerConfig is the durable pull consumer of one target. AckWait covers a
// message waiting in the client buffer behind a full pool (at most one total
// timeout) plus its own call, with margin; retries do not hold a slot, so
// MaxAckPending only needs room for the buffer, the calls in flight and
// messages of a crashed instance awaiting redelivery.
func consumerConfig(t schemas.Topology, tg worker.Target) jetstream.ConsumerConfig {
	conc := max(tg.Concurrency, 1)
	return jetstream.ConsumerConfig{
		Durable:       t.ConsumerName(tg.Name),
		Description:   "dispatcher worker of target " + tg.Name,
		FilterSubject: t.JobsSubject(tg.Name),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       worker.AckWait(tg),
		MaxDeliver:    -1,
		MaxAckPending: max(1000, 4*conc),
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
}

// EnsureConsumer creates or updates the durable consumer of a target.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, t schemas.Topology, tg worker.Target) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, t.JobsStream(), consumerConfig(t, tg))
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", t.ConsumerName(tg.Name), err)
	}
	return c, nil
}
