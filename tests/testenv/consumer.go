package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Partitions is the number of partitions of every service the tests run
// with the default config (streams.partitions).
const Partitions = 8

// ConsumerInfo returns the info of the durable consumer target's jobs go
// through: its partition's on the jobs stream (Partitions partitions).
func ConsumerInfo(t testing.TB, js jetstream.JetStream, target string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := PartConsumerName(target)
	c, err := js.Consumer(ctx, JobsStream, name)
	if err != nil {
		t.Fatalf("consumer %s: %v", name, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("consumer %s info: %v", name, err)
	}
	return info
}

// PartConsumerName is the jobs stream's consumer of target's partition.
func PartConsumerName(target string) string {
	return Topo.PartConsumerName(schemas.Partition(target, Partitions))
}

// LegacyConsumers creates the durable consumers a release before
// partitions made for target: dispatch_<target> on the jobs stream (filter
// <p>.jobs.<target>) and dispatch_due_<target> on the scheduling stream.
func LegacyConsumers(t testing.TB, js jetstream.JetStream, target string) (jobs, due jetstream.Consumer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := func(name, filter string) jetstream.ConsumerConfig {
		return jetstream.ConsumerConfig{
			Durable: name, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: 130 * time.Second, MaxDeliver: -1, MaxAckPending: 1000,
		}
	}
	jobs, err := js.CreateOrUpdateConsumer(ctx, JobsStream, cfg(Topo.ConsumerName(target), Topo.JobsSubject(target)))
	if err != nil {
		t.Fatalf("legacy consumer of %s: %v", target, err)
	}
	due, err = js.CreateOrUpdateConsumer(ctx, Topo.SchedStream(), cfg(Topo.DueConsumerName(target), Topo.DueSubject(target)))
	if err != nil {
		t.Fatalf("legacy due consumer of %s: %v", target, err)
	}
	return jobs, due
}

// WaitSettled waits (bounded) until target's consumers have delivered at
// least n messages and holds none pending or unacknowledged: every job
// delivered so far reached an outcome or had its retry stored.
func WaitSettled(t testing.TB, js jetstream.JetStream, target string, n int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() (bool, string) {
		d := TargetDeliveries(t, js, target)
		ok := d.Delivered > 0 && d.AckPending == 0 && d.Pending == 0 && int(d.Delivered) >= n
		return ok, fmt.Sprintf("target %s: delivered %d, ack pending %d, pending %d", target, d.Delivered, d.AckPending, d.Pending)
	})
}

// Deliveries sums what the consumers of a target (its jobs' and its
// scheduled copies') have done.
type Deliveries struct {
	Delivered, AckPending, Pending, Redelivered uint64
	AckWait                                     time.Duration
}

// TargetDeliveries reads the consumers of target's partition (Partitions
// partitions): on the jobs stream and, when it exists, on the scheduling
// stream. Other targets of the same partition count too.
func TargetDeliveries(t testing.TB, js jetstream.JetStream, target string) Deliveries {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d Deliveries
	for _, c := range []struct{ stream, name string }{
		{JobsStream, PartConsumerName(target)}, {Topo.SchedStream(), Topo.DuePartConsumerName(schemas.Partition(target, Partitions))},
	} {
		cons, err := js.Consumer(ctx, c.stream, c.name)
		if err != nil {
			if c.stream == JobsStream {
				t.Fatalf("consumer %s: %v", c.name, err)
			}
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatalf("consumer %s info: %v", c.name, err)
		}
		d.Delivered += info.Delivered.Consumer
		d.AckPending += uint64(info.NumAckPending)
		d.Pending += info.NumPending
		d.Redelivered += uint64(info.NumRedelivered)
		d.AckWait = max(d.AckWait, info.Config.AckWait)
	}
	return d
}
