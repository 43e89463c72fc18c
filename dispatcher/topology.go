package dispatcher

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/worker"
)

// Topology names the streams and subjects of one subject prefix.
type Topology struct {
	Prefix string
}

// JobsStream is e.g. DISPATCH_JOBS.
func (t Topology) JobsStream() string { return t.streamBase() + "_JOBS" }

// DLQStream is e.g. DISPATCH_DLQ.
func (t Topology) DLQStream() string { return t.streamBase() + "_DLQ" }

// FallbackStream is e.g. DISPATCH_FALLBACK.
func (t Topology) FallbackStream() string { return t.streamBase() + "_FALLBACK" }

// JobsSubject is <p>.jobs.<target>.
func (t Topology) JobsSubject(target string) string { return t.Prefix + ".jobs." + target }

// ConsumerName is the durable consumer of a target: dispatch_<target>.
func ConsumerName(target string) string { return "dispatch_" + target }

func (t Topology) streamBase() string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(t.Prefix))
}

// StreamSettings are the parts of the stream configs the service owns.
type StreamSettings struct {
	Replicas         int
	DeadLetterMaxAge time.Duration
	FallbackMaxAge   time.Duration
}

// StreamConfigs returns the configs of the three streams (jobs, dead
// letters, fallback) as EnsureStreams creates them; deploy/nats/streams holds
// them as JSON for 'nats stream add --config'.
func (t Topology) StreamConfigs(s StreamSettings) []jetstream.StreamConfig {
	r := max(s.Replicas, 1)
	return []jetstream.StreamConfig{
		{
			Name:        t.JobsStream(),
			Description: "dispatcher jobs (and their scheduled retries)",
			Subjects:    []string{t.Prefix + ".jobs.>", t.Prefix + ".retry.>"},
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
			Subjects:    []string{t.Prefix + ".dlq.>"},
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
			Subjects:    []string{t.Prefix + ".fallback.>"},
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
func (t Topology) EnsureStreams(ctx context.Context, js jetstream.JetStream, s StreamSettings) error {
	for _, sc := range t.StreamConfigs(s) {
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
func (t Topology) consumerConfig(tg worker.Target) jetstream.ConsumerConfig {
	conc := max(tg.Concurrency, 1)
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(tg.Name),
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
func (t Topology) EnsureConsumer(ctx context.Context, js jetstream.JetStream, tg worker.Target) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, t.JobsStream(), t.consumerConfig(tg))
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ConsumerName(tg.Name), err)
	}
	return c, nil
}
