package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
	"github.com/jetdispatch/dispatcher/worker"
)

// TestPartitionMatchesServer: the partition the service computes for a
// target (schemas.Partition) is the one the jobs stream's subject
// transform stores the target's jobs under, on a real server.
func TestPartitionMatchesServer(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	testenv.EnsureStreams(t, b.JS)
	var msgs []testenv.Msg
	targets := []string{"a", "b", "orders", "payments", "t-00017", "Z_9", "webhook-customer-4711"}
	for _, tg := range targets {
		msgs = append(msgs, testenv.JobMsg(tg, schemas.Job{ID: "pm-" + tg}))
	}
	b.PublishMany(t, msgs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := b.JS.Stream(ctx, testenv.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		want := testenv.Topo.PartSubject(schemas.Partition(tg, testenv.Partitions), tg)
		if info.State.Subjects[want] != 1 {
			t.Errorf("target %s: no job stored on %s; the stream holds %v", tg, want, info.State.Subjects)
		}
	}
}

// samePartition returns a target name other than target in target's
// partition (testenv.Partitions partitions).
func samePartition(t *testing.T, target, prefix string) string {
	t.Helper()
	k := schemas.Partition(target, testenv.Partitions)
	for i := range 1000 {
		if name := fmt.Sprintf("%s%d", prefix, i); schemas.Partition(name, testenv.Partitions) == k {
			return name
		}
	}
	t.Fatalf("no name %s<n> in the partition of %s", prefix, target)
	return ""
}

// TestSickTargetDoesNotHoldItsPartition: a black-holed target and a healthy
// one share a partition; 300 jobs of the sick one are published first, then
// 300 of the healthy one. The sick lane takes what it can hold; the rest of
// its backlog is parked (scheduled copies, no attempt), each once, so the
// healthy jobs behind it flow at once instead of waiting minutes behind
// calls that time out. No sick job is lost: each has a record or waits as a
// scheduled copy.
func TestSickTargetDoesNotHoldItsPartition(t *testing.T) {
	t.Parallel()
	const n = 300
	b := testenv.NewBroker(t)
	healthy, sick := testenv.NewSink(t), testenv.NewSink(t)
	sick.SetBehaviour(testenv.BlackHole())
	healthyName := samePartition(t, "sick", "healthy-")
	svc := testenv.RunService(t, b.Config(testenv.Targets(testenv.M{
		healthyName: testenv.Target(healthy.URL, testenv.M{"concurrency": 8}),
		"sick": testenv.Target(sick.URL, testenv.M{
			"concurrency": 2,
			"timeouts":    testenv.M{"total": "2s"},
			"retry":       testenv.M{"max_attempts": 1},
		}),
	})))
	var msgs []testenv.Msg
	for i := range n {
		msgs = append(msgs, testenv.JobMsg("sick", schemas.Job{ID: fmt.Sprintf("sick-%03d", i)}))
	}
	for i := range n {
		msgs = append(msgs, testenv.JobMsg(healthyName, schemas.Job{ID: fmt.Sprintf("healthy-%03d", i)}))
	}
	start := time.Now()
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return healthy.Distinct() == n, fmt.Sprintf("%d of %d healthy jobs delivered; %d sick calls", healthy.Distinct(), n, sick.Count())
	})
	took := time.Since(start)
	// Behind 300 calls of 2 s two at a time, the healthy jobs would have
	// waited 300 s.
	if took > 15*time.Second {
		t.Errorf("the healthy target's %d jobs took %s behind the sick one's", n, took)
	}
	inLane := worker.LaneCapacity(2) // the sick lane holds at most this many
	parkedKey := `dispatcher_parked_total{reason="busy",target="sick"}`
	parked := scrape(t, svc.HTTPAddr())[parkedKey]
	if parked < float64(n-inLane)/2 || parked > n {
		t.Errorf("%v sick jobs parked, want most of the %d, each once", parked, n)
	}
	// Nothing lost: every sick job has a record, waits as a scheduled copy,
	// or is in the lane (at most its capacity).
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		records := len(testenv.DeadLetters(t, b.JS, "sick")) + len(testenv.Fallbacks(t, b.JS, "sick"))
		waiting := testenv.CountMsgs(t, b.JS, testenv.Topo.SchedStream(), testenv.Topo.SchedSubject("sick", ">"))
		return records+waiting >= n-inLane && records+waiting <= n, fmt.Sprintf("%d records + %d scheduled copies of %d sick jobs", records, waiting, n)
	})
	t.Logf("healthy target: %d jobs in %s behind %d of a black-holed target in its partition (%v of them parked)",
		n, took.Round(time.Millisecond), n, parked)
}
