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

// WaitSettled waits (bounded) until target's consumer has delivered at
// least n messages and holds none pending or unacknowledged: every job
// delivered so far reached an outcome or had its retry stored.
func WaitSettled(t testing.TB, js jetstream.JetStream, target string, n int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() (bool, string) {
		info := ConsumerInfo(t, js, target)
		ok := info.Delivered.Stream > 0 && info.NumAckPending == 0 && info.NumPending == 0 && int(info.Delivered.Consumer) >= n
		return ok, fmt.Sprintf("consumer %s: delivered %d, ack pending %d, pending %d",
			info.Name, info.Delivered.Consumer, info.NumAckPending, info.NumPending)
	})
}
