package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestUpgradeFromPerTargetConsumers: a deployment of a release before
// partitions — its jobs stream without a subject transform, per-target
// consumers dispatch_<t> and dispatch_due_<t>, jobs stored on
// <p>.jobs.<t>, a fired copy on <p>.due.<t>, a copy still scheduled —
// upgrades while an instance of the earlier release is still live (a
// rolling deploy). The new instance sets the transforms (new jobs go to
// the partitions), drains the old consumers of its targets through its
// lanes, keeps them while the old instance lives and removes them once it
// is gone. Every job is called exactly once.
func TestUpgradeFromPerTargetConsumers(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The earlier release's streams and consumers.
	legacyJobsStream(t, b.JS)
	if _, err := b.JS.CreateStream(ctx, jetstream.StreamConfig{
		Name: testenv.Topo.SchedStream(), Subjects: []string{testenv.Topo.SchedWildcard(), testenv.Topo.DueWildcard(), testenv.Topo.SettledWildcard()},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Discard: jetstream.DiscardOld,
		Duplicates: 15 * time.Minute, AllowMsgSchedules: true, AllowRollup: true, AllowMsgTTL: true, AllowDirect: true,
	}); err != nil {
		t.Fatal(err)
	}
	for _, tg := range []string{"a", "b"} {
		testenv.LegacyConsumers(t, b.JS, tg)
	}
	var msgs []testenv.Msg
	var ids []string
	for i := range 300 {
		tg := []string{"a", "b"}[i%2]
		id := fmt.Sprintf("old-%s-%03d", tg, i)
		ids = append(ids, id)
		msgs = append(msgs, testenv.JobMsg(tg, schemas.Job{ID: id}))
	}
	// A copy already fired onto <p>.due.a, and one scheduled to fire after
	// the upgrade, as the earlier release left them.
	ids = append(ids, "old-fired", "old-scheduled")
	msgs = append(msgs,
		testenv.Msg{Subject: testenv.Topo.DueSubject("a"), ID: "old-fired", Data: []byte(`{"id":"old-fired"}`)},
		testenv.Msg{Subject: testenv.Topo.SchedSubject("a", "DISPATCH_JOBS-999999"), ID: "old-scheduled", Data: []byte(`{"id":"old-scheduled"}`),
			Header: nats.Header{"Nats-Schedule": {"@at " + time.Now().Add(3*time.Second).UTC().Format(time.RFC3339Nano)},
				"Nats-Schedule-Target": {testenv.Topo.DueSubject("a")}}})
	b.PublishMany(t, msgs)

	// An instance of the earlier release, live: its heartbeat has no
	// "partitions" (it also consumes nothing here, so that every call the
	// sink sees is the new instance's).
	inst, err := b.JS.KeyValue(ctx, testenv.Prefix+"_instances")
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		inst, err = b.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: testenv.Prefix + "_instances", TTL: time.Hour})
	}
	if err != nil {
		t.Fatal(err)
	}
	oldCtx, stopOld := context.WithCancel(context.Background())
	oldDone := make(chan struct{})
	go func() {
		defer close(oldDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			rec, _ := json.Marshal(map[string]any{"id": "old-1", "instance": "old/1", "service_name": "dispatcher",
				"started_at": time.Now().UTC(), "at": time.Now().UTC(), "heartbeat_ms": 200, "target_count": 2,
				"targets": []any{}, "targets_hash": ""})
			_, _ = inst.Put(oldCtx, "old-1", rec)
			select {
			case <-oldCtx.Done():
				dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = inst.Delete(dctx, "old-1")
				dcancel()
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { stopOld(); <-oldDone })

	testenv.RunService(t, b.Config(testenv.M{"fleet": testenv.M{"heartbeat": "200ms"}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL), "b": testenv.Target(sink.URL)})))
	// Jobs published after the upgrade go to the partitions.
	msgs = msgs[:0]
	for i := range 100 {
		id := fmt.Sprintf("new-%03d", i)
		ids = append(ids, id)
		msgs = append(msgs, testenv.JobMsg("a", schemas.Job{ID: id}))
	}
	b.PublishMany(t, msgs)
	if n := testenv.CountMsgs(t, b.JS, testenv.JobsStream, testenv.JobsSubject("a")); n > 100 {
		t.Errorf("%d jobs of a in its partition right after the upgrade, want at most the 100 published since", n)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		return sink.Distinct() == len(ids), fmt.Sprintf("%d of %d jobs called", sink.Distinct(), len(ids))
	})
	calls := sink.ByKey()
	for _, id := range ids {
		if n := len(calls[id]); n != 1 {
			t.Errorf("%s called %d times, want 1", id, n)
		}
	}
	legacyLeft := func() int {
		n := 0
		for _, c := range []struct{ stream, name string }{
			{testenv.JobsStream, testenv.Topo.ConsumerName("a")}, {testenv.JobsStream, testenv.Topo.ConsumerName("b")},
			{testenv.Topo.SchedStream(), testenv.Topo.DueConsumerName("a")}, {testenv.Topo.SchedStream(), testenv.Topo.DueConsumerName("b")},
		} {
			if _, err := b.JS.Consumer(ctx, c.stream, c.name); err == nil {
				n++
			}
		}
		return n
	}
	// Drained, but kept while the earlier release's instance lives.
	time.Sleep(2 * time.Second) // two janitor rounds (every 5 heartbeats): the time under test
	if n := legacyLeft(); n != 4 {
		t.Errorf("%d of the 4 old consumers left while an instance of the earlier release is live, want 4", n)
	}
	stopOld()
	<-oldDone
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		n := legacyLeft()
		return n == 0, fmt.Sprintf("%d old consumers left after the earlier release's instance left", n)
	})
	for _, c := range []string{testenv.Topo.PartConsumerName(0), testenv.Topo.DuePartConsumerName(0)} {
		stream := testenv.JobsStream
		if c == testenv.Topo.DuePartConsumerName(0) {
			stream = testenv.Topo.SchedStream()
		}
		if _, err := b.JS.Consumer(ctx, stream, c); err != nil {
			t.Errorf("partition consumer %s: %v", c, err)
		}
	}
}
