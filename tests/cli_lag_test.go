package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// partitionedStreams makes the streams and the partitions' consumers as a
// service with testenv.Partitions partitions does, and returns the jobs
// consumers.
func partitionedStreams(t *testing.T, js jetstream.JetStream) []jetstream.Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dispatcher.EnsureStreams(ctx, js, testenv.Topo, dispatcher.StreamSettings{Partitions: testenv.Partitions}); err != nil {
		t.Fatal(err)
	}
	jobs, _, err := dispatcher.EnsurePartitions(ctx, js, testenv.Topo, testenv.Partitions)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// TestCLILag checks `lag` against a stream state built by hand: jobs in the
// partitions, some in flight on a partition's consumer, scheduled copies,
// dead letters, fallbacks, orphans and an old per-target consumer.
func TestCLILag(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	parts := partitionedStreams(t, b.JS)
	testenv.LegacyConsumers(t, b.JS, "alpha") // an upgrade not done yet
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var msgs []testenv.Msg
	for i := range 30 {
		msgs = append(msgs, testenv.JobMsg("alpha", schemas.Job{ID: fmt.Sprintf("lag-a-%d", i)}))
	}
	for i := range 2 {
		msgs = append(msgs, testenv.JobMsg("zzz", schemas.Job{ID: fmt.Sprintf("lag-z-%d", i)}))
	}
	b.PublishMany(t, msgs)
	for i := range 3 {
		if _, err := b.JS.Publish(ctx, testenv.Topo.SchedSubject("alpha", fmt.Sprintf("DISPATCH_JOBS-%d", 100+i)), []byte(`{"id":"r"}`)); err != nil {
			t.Fatal(err)
		}
	}
	// 5 delivered by alpha's partition, not acked: in flight.
	ka := schemas.Partition("alpha", testenv.Partitions)
	batch, err := parts[ka].Fetch(5, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for range batch.Messages() {
		got++
	}
	if got != 5 {
		t.Fatalf("fetched %d, want 5", got)
	}
	testenv.PutDeadLetters(t, b.JS, "alpha", []string{"d1", "d2", "d3", "d4"})
	w := deadletter.NewWriter(b.JS, testenv.Prefix)
	if err := w.Fallback(ctx, &schemas.Fallback{Target: "alpha", Reason: schemas.ReasonCircuitOpen, At: time.Now()}, "fb-1"); err != nil {
		t.Fatal(err)
	}
	cfg := testenv.WriteConfig(t, b.Config(testenv.Targets(testenv.M{"alpha": testenv.Target("http://127.0.0.1:1"), "charlie": testenv.Target("http://127.0.0.1:1")})))

	r := testenv.RunCLI(t, nil, nil, "lag", "--json", "--config", cfg)
	if r.Code != 0 {
		t.Fatalf("lag --json\n%s", r)
	}
	var lag dispatcher.Lag
	if err := json.Unmarshal([]byte(r.Stdout), &lag); err != nil {
		t.Fatalf("lag --json: %v\n%s", err, r)
	}
	if len(lag.Targets) != 2 || lag.Targets[0].Target != "alpha" || lag.Targets[1].Target != "charlie" {
		t.Fatalf("targets %+v, want alpha and charlie (configured)", lag.Targets)
	}
	a, c := lag.Targets[0], lag.Targets[1]
	// Pending counts the 5 in flight: the stream keeps them until acked.
	if a.Pending != 30 || a.LegacyPending != 0 || a.Retrying != 3 || a.Dead != 4 || a.Fallback != 1 || a.OldestPendingAt == nil ||
		a.Partition == nil || *a.Partition != ka {
		t.Errorf("alpha %+v", a)
	}
	if c.Pending != 0 || c.Partition == nil || *c.Partition != schemas.Partition("charlie", testenv.Partitions) {
		t.Errorf("charlie %+v", c)
	}
	// No instance is live: alpha, with jobs stored, is STOPPED at once;
	// charlie, with none, UNKNOWN.
	if h := a.Health; h == nil || h.State != verdict.Stopped || h.Cause != "no instance is live; 33 jobs stored" || h.ETASeconds != nil {
		t.Errorf("alpha health %+v", h)
	}
	if h := c.Health; h == nil || h.State != verdict.Unknown || h.Cause != "no instance serves charlie; nothing stored" {
		t.Errorf("charlie health %+v", h)
	}
	if lag.PartitionCount != testenv.Partitions || len(lag.Partitions) != testenv.Partitions {
		t.Fatalf("partition count %d, %d partitions, want %d", lag.PartitionCount, len(lag.Partitions), testenv.Partitions)
	}
	if p := lag.Partitions[ka].Jobs; p == nil || p.Pending != 25 || p.InFlight != 5 || p.Delivered != 5 || p.LastActive == nil {
		t.Errorf("partition %d jobs consumer %+v, want 25 pending, 5 in flight", ka, p)
	}
	if len(lag.LegacyConsumers) != 2 || lag.LegacyConsumers[0].Consumer != "dispatch_alpha" || lag.LegacyConsumers[1].Consumer != "dispatch_due_alpha" {
		t.Errorf("legacy consumers %+v, want dispatch_alpha and dispatch_due_alpha", lag.LegacyConsumers)
	}
	kz := schemas.Partition("zzz", testenv.Partitions)
	if len(lag.Orphans) != 1 || lag.Orphans[0].Subject != "dispatch.jobs.zzz" || lag.Orphans[0].StoredSubject != fmt.Sprintf("dispatch.part.%d.zzz", kz) ||
		lag.Orphans[0].Messages != 2 {
		t.Errorf("orphans %+v", lag.Orphans)
	}

	// Without --config and no live instance, alpha has a row (its records)
	// and its jobs are orphans too: nothing serves it.
	r = testenv.RunCLI(t, nil, []string{"COLUMNS=0"}, "lag", "--nats-url", b.URL)
	for _, want := range []string{"HEALTH", "PARTITION", "PENDING", "IN FLIGHT", "BUFFERED", "RETRYING", "DEAD", "FALLBACK", "OLDEST", "ETA", "CAUSE",
		"PARTITIONS: 8", "UNACKED", "REDELIVERED", "WAITING", "LAST ACTIVE",
		"LEGACY CONSUMERS", "dispatch_due_alpha",
		"ORPHANS", "dispatch.jobs.zzz", fmt.Sprintf("dispatch.part.%d.zzz", kz), fmt.Sprintf("dispatch.part.%d.alpha", ka)} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("lag view lacks %q\n%s", want, r)
		}
	}
	if fields := strings.Fields(lineWith(r.Stdout, "alpha ")); len(fields) < 9 || strings.Join(fields[1:9], " ") != fmt.Sprintf("STOPPED %d 30 0 0 3 4 1", ka) {
		t.Errorf("alpha row %q, want STOPPED %d 30 0 0 3 4 1", lineWith(r.Stdout, "alpha "), ka)
	}
	partRow := lineWith(r.Stdout, fmt.Sprintf("%-9d  dispatcher-jobs-%d ", ka, ka))
	if fields := strings.Fields(partRow); len(fields) < 4 || strings.Join(fields[2:4], " ") != "25 5" {
		t.Errorf("partition row %q, want 25 pending and 5 in flight\n%s", partRow, r)
	}
	t.Logf("lag:\n%s", r.Stdout)

	checks := []struct {
		args []string
		code int
	}{
		{[]string{"--max-pending", "30"}, 0},
		{[]string{"--max-pending", "29"}, 3},
		{[]string{"--max-pending", "0", "--target", "charlie", "--config", cfg}, 0},
		{[]string{"--max-pending", "10", "--watch"}, 2},
		{[]string{"--target", "a.b"}, 2},
		{[]string{"--fail-on", "STALLED,STOPPED"}, 3},
		{[]string{"--fail-on", "GROWING", "--fail-on", "stalled"}, 0},
		{[]string{"--fail-on", "UNKNOWN", "--target", "charlie", "--config", cfg}, 3},
		{[]string{"--fail-on", "BROKEN"}, 2},
		{[]string{"--fail-on", "STOPPED", "--watch"}, 2},
	}
	for _, ck := range checks {
		r := testenv.RunCLI(t, nil, nil, append(append([]string{"lag"}, ck.args...), "--nats-url", b.URL)...)
		if r.Code != ck.code {
			t.Errorf("lag %v: exit %d, want %d\n%s", ck.args, r.Code, ck.code, r)
		}
	}
	// DISPATCHER_* variables stand in for flags.
	if r := testenv.RunCLI(t, nil, []string{"DISPATCHER_NATS_URL=" + b.URL, "DISPATCHER_MAX_PENDING=1"}, "lag"); r.Code != 3 || !strings.Contains(r.Stderr, "alpha has 30 pending") {
		t.Errorf("lag with env\n%s", r)
	}
	if r := testenv.RunCLI(t, nil, []string{"DISPATCHER_NATS_URL=" + b.URL, "DISPATCHER_FAIL_ON=STOPPED"}, "lag"); r.Code != 3 ||
		!strings.Contains(r.Stderr, "--fail-on: alpha is STOPPED (no instance is live; 33 jobs stored)") {
		t.Errorf("lag --fail-on from the environment\n%s", r)
	}
	if r := testenv.RunCLI(t, nil, nil, "lag", "--subject-prefix", "nothing", "--nats-url", b.URL); r.Code != 1 || !strings.Contains(r.Stderr, "NOTHING_JOBS") {
		t.Errorf("lag without streams\n%s", r)
	}
}

// TestCLILagFleet: without --config, the targets of the live instances are
// listed and are not orphans; jobs of a target none serves are, and the
// partitions' consumers show the instance's pulls.
func TestCLILagFleet(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	testenv.RunService(t, b.Config(testenv.M{"orphan_grace": "1h"}, testenv.Targets(testenv.M{"quiet": testenv.Target(sink.URL)})))
	b.Publish(t, testenv.JobMsg("stray", schemas.Job{ID: "stray-1"}))
	kq, ks := schemas.Partition("quiet", testenv.Partitions), schemas.Partition("stray", testenv.Partitions)
	var lag dispatcher.Lag
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		r := testenv.RunCLI(t, nil, nil, "lag", "--json", "--nats-url", b.URL)
		lag = dispatcher.Lag{}
		if err := json.Unmarshal([]byte(r.Stdout), &lag); err != nil || r.Code != 0 {
			return false, fmt.Sprintf("lag --json: %v\n%s", err, r)
		}
		waiting := 0
		for _, p := range lag.Partitions {
			if p.Jobs != nil {
				waiting += p.Jobs.WaitingPulls
			}
		}
		// The stray job is handed back by the instance (it serves no stray)
		// until orphan_grace: it is stored all along.
		ok := len(lag.Targets) == 1 && lag.Targets[0].Target == "quiet" && lag.Targets[0].Partition != nil && *lag.Targets[0].Partition == kq &&
			len(lag.Orphans) == 1 && lag.Orphans[0].Subject == "dispatch.jobs.stray" &&
			lag.Orphans[0].StoredSubject == fmt.Sprintf("dispatch.part.%d.stray", ks) && waiting > 0
		return ok, fmt.Sprintf("targets %+v, orphans %+v, %d pulls waiting; want quiet, the stray job, pulls", lag.Targets, lag.Orphans, waiting)
	})
	if lag.Fleet == nil || len(lag.Fleet.Instances) != 1 {
		t.Errorf("fleet %+v, want one instance", lag.Fleet)
	}
}

// TestCLILagWatch runs `lag --watch` long enough for two redraws.
func TestCLILagWatch(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	partitionedStreams(t, b.JS)
	b.Publish(t, testenv.JobMsg("alpha", schemas.Job{ID: "w-1"}))
	cfg := testenv.WriteConfig(t, b.Config(testenv.Targets(testenv.M{"alpha": testenv.Target("http://127.0.0.1:1")})))
	p := testenv.StartProcess(t, testenv.Binary(t), "lag", "--watch", "--interval", "200ms", "--config", cfg)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		out := p.Stdout()
		return strings.Count(out, "DELIV/S") >= 2 && strings.Count(out, "NET/S") >= 2 && strings.Contains(out, "steady"), "waiting for two redraws"
	})
	p.Terminate(t)
	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Errorf("lag --watch exited %d on SIGTERM, want 0", code)
	}
}

func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
