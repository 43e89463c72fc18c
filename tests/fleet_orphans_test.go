package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// Orphans are judged fleet-wide: a job is dead-lettered unknown_target only
// when no live instance serves its target, orphan_grace after the last one
// stopped serving it. Each test runs `dispatcher serve` processes sharing
// one nats-server, with the target under test slow (300 ms a call, one at
// a time) so that its jobs wait in the stream longer than orphan_grace.

const (
	orphanGrace = 2 * time.Second
	orphanJobs  = 30
)

// orphanWorld is a nats-server, a fast target a and a slow target b.
type orphanWorld struct {
	b          *testenv.Broker
	fast, slow *testenv.Sink
}

func newOrphanWorld(t *testing.T) *orphanWorld {
	t.Helper()
	w := &orphanWorld{b: testenv.NewBroker(t), fast: testenv.NewSink(t), slow: testenv.NewSink(t)}
	w.slow.SetBehaviour(testenv.Sleep(300*time.Millisecond, testenv.OK()))
	return w
}

// config is a serve config with orphan_grace 2s and the named targets: a,
// and b when withB.
func (w *orphanWorld) config(withB bool) string {
	tgs := testenv.M{"a": testenv.Target(w.fast.URL)}
	if withB {
		tgs["b"] = testenv.Target(w.slow.URL, testenv.M{"concurrency": 1})
	}
	return w.b.Config(testenv.M{"orphan_grace": orphanGrace.String()}, testenv.Targets(tgs))
}

// serve starts `dispatcher serve` with config and waits until it is ready.
func (w *orphanWorld) serve(t *testing.T, config string) (*testenv.Process, string) {
	t.Helper()
	path := testenv.WriteConfig(t, config)
	p := testenv.StartProcess(t, testenv.Binary(t), "serve", "--config", path)
	p.WaitReady(t)
	return p, path
}

// publishB publishes the jobs of b, ob-00 to ob-29.
func (w *orphanWorld) publishB(t *testing.T) {
	t.Helper()
	msgs := make([]testenv.Msg, orphanJobs)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("b", schemas.Job{ID: fmt.Sprintf("ob-%02d", i)})
	}
	w.b.PublishMany(t, msgs)
}

// outcomes are b's delivered jobs and its unknown_target dead letters (job
// id → dead_at).
func (w *orphanWorld) outcomes(t *testing.T) (delivered []string, dead map[string]time.Time) {
	t.Helper()
	dead = map[string]time.Time{}
	for _, d := range testenv.DeadLetters(t, w.b.JS, "b") {
		if d.Rec.Reason != schemas.ReasonUnknownTarget {
			t.Errorf("dead letter of %s with reason %s", d.Header.Get("Dispatch-Job-Id"), d.Rec.Reason)
		}
		dead[d.Header.Get("Dispatch-Job-Id")] = d.Rec.DeadAt
	}
	return w.slow.Answered(200), dead
}

// settled waits (bounded) until every job of b has left the jobs stream
// and has an outcome, and fails the test when a job has two.
func (w *orphanWorld) settled(t *testing.T, timeout time.Duration) (delivered []string, dead map[string]time.Time) {
	t.Helper()
	testenv.Eventually(t, timeout, func() (bool, string) {
		delivered, dead = w.outcomes(t)
		left := testenv.CountMsgs(t, w.b.JS, testenv.JobsStream, testenv.JobsSubject("b"))
		return left == 0 && len(delivered)+len(dead) >= orphanJobs,
			fmt.Sprintf("%d of b's jobs delivered, %d dead-lettered, %d in the jobs stream", len(delivered), len(dead), left)
	})
	for _, id := range delivered {
		if at, ok := dead[id]; ok {
			t.Errorf("%s delivered and dead-lettered (at %s): two outcomes", id, at.Format(time.StampMilli))
		}
	}
	return delivered, dead
}

// TestOrphansRollingDeployAddsTarget: a rolling deploy adding target b.
// The new instance serves a and b, the old one a only; b's jobs wait
// behind a slow target longer than orphan_grace. The old instance must not
// take them for orphans: all 30 are delivered, none dead-lettered.
func TestOrphansRollingDeployAddsTarget(t *testing.T) {
	t.Parallel()
	w := newOrphanWorld(t)
	w.serve(t, w.config(false)) // the old config
	w.serve(t, w.config(true))  // the new one
	w.publishB(t)
	delivered, dead := w.settled(t, 40*time.Second)
	t.Logf("b: %d delivered, %d dead-lettered unknown_target", len(delivered), len(dead))
	if len(delivered) != orphanJobs || len(dead) != 0 {
		t.Errorf("%d of %d jobs of b delivered and %d dead-lettered unknown_target, want all delivered, none dead-lettered",
			len(delivered), orphanJobs, len(dead))
	}
}

// TestOrphansCanaryStopped: target b is on the canary only. While it runs,
// no job of b is an orphan, however long it waits; once the canary stops,
// b's remaining jobs are dead-lettered orphan_grace after the moment it
// stopped serving b (its heartbeat deleted), not at once for being old.
func TestOrphansCanaryStopped(t *testing.T) {
	t.Parallel()
	w := newOrphanWorld(t)
	w.serve(t, w.config(false))
	canary, _ := w.serve(t, w.config(true))
	w.publishB(t)
	published := time.Now()

	// Ten delivered take 3 s: every job left is older than orphan_grace.
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		n := len(w.slow.Answered(200))
		return n >= 10, fmt.Sprintf("%d of b's jobs delivered by the canary, want 10", n)
	})
	if _, dead := w.outcomes(t); len(dead) > 0 {
		t.Fatalf("%d jobs of b dead-lettered unknown_target while the canary served b (%s after publishing)",
			len(dead), time.Since(published).Round(time.Millisecond))
	}

	// The moment the canary stops serving: the server's time of the delete
	// of its heartbeat.
	kv, id := canaryHeartbeat(t, w, canary.Pid())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watch, err := kv.Watch(ctx, id, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = watch.Stop() }()
	canary.Terminate(t)
	if code := canary.Wait(t, 15*time.Second); code != 0 {
		t.Errorf("canary exited %d, want 0", code)
	}
	var stopped time.Time
	for stopped.IsZero() {
		select {
		case e := <-watch.Updates():
			if e != nil && e.Operation() != jetstream.KeyValuePut {
				stopped = e.Created()
			}
		case <-ctx.Done():
			t.Fatal("the canary's heartbeat was not deleted at its shutdown")
		}
	}

	delivered, dead := w.settled(t, 20*time.Second)
	if len(dead) == 0 {
		t.Fatalf("no job of b dead-lettered after the canary stopped (%d delivered)", len(delivered))
	}
	var first time.Time
	for _, at := range dead {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	after := first.Sub(stopped)
	t.Logf("canary stopped serving b %s after publishing, with %d jobs delivered; %d left dead-lettered, the first %s after it stopped (orphan_grace %s)",
		stopped.Sub(published).Round(time.Millisecond), len(delivered), len(dead), after.Round(time.Millisecond), orphanGrace)
	if after < orphanGrace {
		t.Errorf("first orphan dead-lettered %s after the canary stopped serving b, want orphan_grace (%s) at least", after, orphanGrace)
	}
	if after > orphanGrace+2*time.Second {
		t.Errorf("first orphan dead-lettered %s after the canary stopped serving b, want within 2s of orphan_grace (%s)", after, orphanGrace)
	}
	if len(delivered)+len(dead) != orphanJobs {
		t.Errorf("%d delivered + %d dead-lettered, want %d jobs with one outcome each", len(delivered), len(dead), orphanJobs)
	}
}

// canaryHeartbeat finds the fleet ID of the instance of process pid.
func canaryHeartbeat(t *testing.T, w *orphanWorld, pid int) (jetstream.KeyValue, string) {
	t.Helper()
	host, _ := os.Hostname()
	instance := fmt.Sprintf("%s/%d", host, pid)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := w.b.JS.KeyValue(ctx, schemas.Topology{Prefix: testenv.Prefix}.InstancesBucket())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for k := range keys.Keys() {
		ids = append(ids, k)
	}
	for _, k := range ids {
		e, err := kv.Get(ctx, k)
		var rec dispatcher.FleetInstance
		if err == nil && json.Unmarshal(e.Value(), &rec) == nil && rec.Instance == instance {
			return kv, k
		}
	}
	t.Fatalf("no heartbeat of %s among %v", instance, ids)
	return nil, ""
}

// TestOrphansReloadRemovesTargetOnOneInstance: two instances serve a and
// b; a reload removes b from one of them only. The other still serves b:
// none of b's jobs is an orphan, all 30 are delivered.
func TestOrphansReloadRemovesTargetOnOneInstance(t *testing.T) {
	t.Parallel()
	w := newOrphanWorld(t)
	w.serve(t, w.config(true))
	reloaded, path := w.serve(t, w.config(true))
	w.publishB(t)
	if err := os.WriteFile(path, []byte(w.config(false)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(reloaded.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloaded.WaitLog(t, `"config reloaded"`, 10*time.Second)
	delivered, dead := w.settled(t, 40*time.Second)
	t.Logf("b: %d delivered, %d dead-lettered unknown_target", len(delivered), len(dead))
	if len(delivered) != orphanJobs || len(dead) != 0 {
		t.Errorf("%d of %d jobs of b delivered and %d dead-lettered unknown_target, want all delivered, none dead-lettered",
			len(delivered), orphanJobs, len(dead))
	}
}
