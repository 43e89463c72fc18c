package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerInfo returns the info of target's durable consumer.
func ConsumerInfo(t testing.TB, js jetstream.JetStream, target string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, JobsStream, ConsumerName(target))
	if err != nil {
		t.Fatalf("consumer %s: %v", ConsumerName(target), err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("consumer %s info: %v", ConsumerName(target), err)
	}
	return info
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

// TargetDeliveries reads the consumers of target: on the jobs stream and,
// when it exists, on the scheduling stream.
func TargetDeliveries(t testing.TB, js jetstream.JetStream, target string) Deliveries {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d Deliveries
	for _, c := range []struct{ stream, name string }{
		{JobsStream, Topo.ConsumerName(target)}, {Topo.SchedStream(), Topo.DueConsumerName(target)},
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
