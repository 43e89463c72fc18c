package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

const testHeartbeat = 100 * time.Millisecond

var testTopo = schemas.Topology{Prefix: "dispatch"}

// startNATS starts a JetStream nats-server on a free loopback port, stopped
// at the test's end.
func startNATS(t *testing.T) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv.ClientURL()
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// testMember is a fleet member of its own connection, not started, with a
// worker (not started) per target.
type testMember struct {
	*fleetMember
	js      jetstream.JetStream
	workers map[string]*worker.Worker
}

func newTestMember(t *testing.T, url, name string, targets ...worker.Target) *testMember {
	t.Helper()
	nc, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inst, brk, err := fleetBuckets(ctx, js, testTopo, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{
		cfg: &config.Config{ServiceName: "fleet-test", OrphanGrace: time.Minute, Fleet: config.Fleet{Heartbeat: testHeartbeat}},
		log: zap.NewNop(), nc: nc, instance: name, metrics: metrics.New(metrics.BuildInfo{Version: "test"}),
	}
	pz, err := pausesBucket(ctx, js, testTopo, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := &testMember{fleetMember: newFleetMember(s, inst, brk), js: js, workers: map[string]*worker.Worker{}}
	m.pauseKV = pz
	for _, tg := range targets {
		if len(tg.Endpoints) == 0 {
			tg.Endpoints = []string{"http://127.0.0.1:1"}
		}
		w, err := worker.New(tg, worker.Security{}, js, deadletter.NewWriter(js, testTopo.Prefix))
		if err != nil {
			t.Fatal(err)
		}
		m.workers[tg.Name] = w
		m.attach(w)
	}
	return m
}

// run starts m and announces its targets; it is stopped at the test's end.
func (m *testMember) run(t *testing.T) {
	t.Helper()
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	m.publishNow(context.Background())
}

// live is how many live instances m counts.
func (m *testMember) live() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFleetServing: each instance knows which instance serves which
// target; fleet limits are split among the instances serving the target;
// a target is unserved only when no live instance serves it, since the
// moment the last one stopped (or since this instance could first judge).
func TestFleetServing(t *testing.T) {
	url := startNATS(t)
	m1 := newTestMember(t, url, "host/1",
		worker.Target{Name: "a", Concurrency: 4, LimitScope: worker.LimitScopeFleet},
		worker.Target{Name: "b", Concurrency: 4, LimitScope: worker.LimitScopeFleet})
	m2 := newTestMember(t, url, "host/2", worker.Target{Name: "a", Concurrency: 4, LimitScope: worker.LimitScopeFleet})
	if _, ok := m2.unserved("ghost"); ok {
		t.Fatal("a member that has not heard the fleet judged a target unserved")
	}
	m1.run(t)
	m2.run(t)
	for _, m := range []*testMember{m1, m2} {
		waitFor(t, 5*time.Second, m.instance+" counts 2 instances", func() bool { return m.live() == 2 })
	}
	conc := func(m *testMember, target string) int { c, _ := m.workers[target].Limits(); return c }
	waitFor(t, 5*time.Second, "a split 2+2, b all 4 on the one instance serving it", func() bool {
		return conc(m1, "a") == 2 && conc(m2, "a") == 2 && conc(m1, "b") == 4
	})
	if _, ok := m2.unserved("b"); ok {
		t.Error("b judged unserved by the instance without it, while the other serves it")
	}
	if _, ok := m1.unserved("a"); ok {
		t.Error("a judged unserved")
	}
	since, ok := m2.unserved("ghost")
	m2.mu.Lock()
	judgeFrom := m2.judgeFrom
	m2.mu.Unlock()
	if !ok || !since.Equal(judgeFrom) {
		t.Errorf("ghost: unserved %v since %v, want since the fleet was heard (%v)", ok, since, judgeFrom)
	}

	// m1 drops b (a reload removing it): b is unserved from then on.
	dropped := time.Now()
	m1.detach(m1.workers["b"])
	waitFor(t, 5*time.Second, "b unserved once its only server dropped it", func() bool {
		since, ok = m2.unserved("b")
		return ok
	})
	if since.Before(dropped) || time.Since(since) > time.Second {
		t.Errorf("b unserved since %v, want from when it was dropped (%v)", since.Format(time.StampMicro), dropped.Format(time.StampMicro))
	}

	// m2 leaves: m1 takes all of a's limits, and still serves it.
	m2.stop()
	waitFor(t, 5*time.Second, "m1 alone takes a's 4", func() bool { return m1.live() == 1 && conc(m1, "a") == 4 })
	if _, ok := m1.unserved("a"); ok {
		t.Error("a judged unserved by the instance serving it")
	}
}

// TestFleetLegacyHeartbeat: a heartbeat of the released binary (every
// target with its limits, no set hash) counts as the set it lists.
func TestFleetLegacyHeartbeat(t *testing.T) {
	url := startNATS(t)
	m := newTestMember(t, url, "host/1", worker.Target{Name: "a", Concurrency: 4, LimitScope: worker.LimitScopeFleet})
	m.run(t)
	legacy := fmt.Sprintf(`{"id":"OLDINSTANCE","instance":"old/7","service_name":"fleet-test","started_at":%q,"at":%q,"heartbeat_ms":60000,
		"targets":[{"target":"a","limit_scope":"fleet","concurrency":2},{"target":"old-only","limit_scope":"instance","concurrency":32}]}`,
		time.Now().UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.inst.Put(ctx, "OLDINSTANCE", []byte(legacy)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the legacy instance counted, a split in 2", func() bool {
		c, _ := m.workers["a"].Limits()
		return m.live() == 2 && c == 2
	})
	if _, ok := m.unserved("old-only"); ok {
		t.Error("a target the legacy heartbeat lists judged unserved")
	}
	if _, ok := m.unserved("ghost"); !ok {
		t.Error("a target no one serves not judged unserved")
	}

	fl, err := ReadFleet(ctx, m.js, testTopo, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var old *FleetInstance
	for i := range fl.Instances {
		if fl.Instances[i].ID == "OLDINSTANCE" {
			old = &fl.Instances[i]
		}
	}
	if old == nil || old.TargetCount != 2 || len(old.Targets) != 1 || old.Targets[0].Target != "a" {
		t.Errorf("fleet view of the legacy instance %+v, want 2 targets and the quota of a only", old)
	}
	if ids, unk := fl.Serving().Servers("old-only"); len(ids) != 1 || ids[0] != "OLDINSTANCE" || len(unk) != 0 {
		t.Errorf("ReadFleet: old-only served by %v (not known: %v), want the legacy instance", ids, unk)
	}
	if ids, _ := fl.Serving().Servers("a"); len(ids) != 2 {
		t.Errorf("ReadFleet: a served by %v, want both", ids)
	}
}

// TestFleetTargetSetParts: a target set larger than a part is stored in
// parts, read whole by the others, and a smaller set later leaves no stale
// part behind.
func TestFleetTargetSetParts(t *testing.T) {
	url := startNATS(t)
	var tgs []worker.Target
	for i := range 40 {
		tgs = append(tgs, worker.Target{Name: fmt.Sprintf("t%02d-%x", i, i*7919)})
	}
	m1 := newTestMember(t, url, "host/1", tgs...)
	m1.partSize = 64
	m1.run(t)
	m2 := newTestMember(t, url, "host/2")
	m2.run(t)
	m1.mu.Lock()
	want := m1.ownSet()
	m1.mu.Unlock()
	parts := m1.written.parts
	if parts < 3 {
		t.Fatalf("%d parts of 64 bytes for 40 names, want several", parts)
	}
	waitFor(t, 5*time.Second, "m2 reads m1's set", func() bool {
		_, ok := m2.unserved(tgs[39].Name)
		m2.mu.Lock()
		defer m2.mu.Unlock()
		return !ok && m2.view != nil && m2.view.Set(m1.id) != nil && m2.view.Set(m1.id).Hash() == want.Hash()
	})
	for _, tg := range tgs[1:] {
		m1.detach(m1.workers[tg.Name])
	}
	waitFor(t, 5*time.Second, "m2 reads m1's smaller set", func() bool {
		m2.mu.Lock()
		defer m2.mu.Unlock()
		s := m2.view.Set(m1.id)
		return s != nil && s.Len() == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := m1.written.parts; i < parts; i++ {
		if _, err := m1.inst.Get(ctx, targetSetKey(m1.id, i)); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("stale part %d: %v, want deleted", i, err)
		}
	}
	m1.stop()
	for i := range parts {
		if _, err := m1.inst.Get(ctx, targetSetKey(m1.id, i)); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("part %d after stop: %v, want deleted", i, err)
		}
	}
}

// TestFleetRecordSizes10k measures the records of an instance with 10,000
// targets: its heartbeat stays small whatever the targets' scope, its
// target set is written apart in one part, and another instance reads it.
func TestFleetRecordSizes10k(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 workers")
	}
	url := startNATS(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	random64 := func(int) string {
		b := make([]byte, 64)
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return string(b)
	}
	for _, tt := range []struct {
		name, scope string
		names       func(i int) string
	}{
		{"instance scope, names target-00000", worker.LimitScopeInstance, func(i int) string { return fmt.Sprintf("target-%05d", i) }},
		{"fleet scope, random 64-character names", worker.LimitScopeFleet, random64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var tgs []worker.Target
			var legacy []FleetLimits // what the released binary's heartbeat carries
			for i := range 10000 {
				tgs = append(tgs, worker.Target{Name: tt.names(i), Concurrency: 8, LimitScope: tt.scope})
				legacy = append(legacy, FleetLimits{Target: tgs[i].Name, Scope: tt.scope, Concurrency: 8})
			}
			old, _ := json.Marshal(FleetInstance{ID: "x", Instance: "host/1", ServiceName: "fleet-test", Targets: legacy})
			m1 := newTestMember(t, url, "big/1", tgs...)
			m1.run(t)
			m2 := newTestMember(t, url, "small/2")
			m2.run(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			hb, err := m1.inst.Get(ctx, m1.id)
			if err != nil {
				t.Fatal(err)
			}
			var rec FleetInstance
			if err := json.Unmarshal(hb.Value(), &rec); err != nil {
				t.Fatal(err)
			}
			set := 0
			for i := range rec.TargetsParts {
				e, err := m1.inst.Get(ctx, targetSetKey(m1.id, i))
				if err != nil {
					t.Fatal(err)
				}
				set += len(e.Value())
			}
			t.Logf("10,000 targets (%s): heartbeat %d bytes (the released binary's: %d), target set %d bytes in %d part(s)",
				tt.name, len(hb.Value()), len(old), set, rec.TargetsParts)
			if len(hb.Value()) > 16<<10 {
				t.Errorf("heartbeat %d bytes, want at most 16 KiB", len(hb.Value()))
			}
			if want := (set + targetSetPartSize - 1) / targetSetPartSize; rec.TargetCount != 10000 || rec.TargetsParts != want {
				t.Errorf("heartbeat says %d targets in %d parts, want 10000 in %d", rec.TargetCount, rec.TargetsParts, want)
			}
			waitFor(t, 10*time.Second, "the other instance reads the set", func() bool {
				_, ok := m2.unserved(tgs[9999].Name)
				return !ok && m2.live() == 2
			})
			m1.stop()
		})
	}
}

// TestFleetJudgesAgainAfterReconnect: while NATS is away an instance hears
// no heartbeat, so it judges no orphan; after the reconnect it waits 3
// heartbeats (the others' heartbeats come back) before judging again.
func TestFleetJudgesAgainAfterReconnect(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	opts := &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true}
	start := func() *server.Server {
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server not ready")
		}
		return srv
	}
	srv := start()
	m := newTestMember(t, srv.ClientURL(), "host/1")
	m.run(t)
	waitFor(t, 5*time.Second, "ghost judged unserved", func() bool { _, ok := m.unserved("ghost"); return ok })

	srv.Shutdown()
	srv.WaitForShutdown()
	waitFor(t, 5*time.Second, "the member notices NATS is away", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.offline
	})
	if _, ok := m.unserved("ghost"); ok {
		t.Error("ghost judged unserved while NATS is away")
	}
	srv = start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	waitFor(t, 10*time.Second, "reconnected", m.connected)
	back := time.Now()
	for {
		since, ok := m.unserved("ghost")
		if ok {
			if waited := time.Since(back); waited < 2*testHeartbeat {
				t.Errorf("ghost judged unserved %s after the reconnect, want 3 heartbeats (%s) or so", waited, 3*testHeartbeat)
			}
			if since.Before(back) {
				t.Errorf("ghost unserved since %s, before the reconnect (%s)", since.Format(time.StampMicro), back.Format(time.StampMicro))
			}
			break
		}
		if time.Since(back) > 5*time.Second {
			t.Fatal("ghost not judged unserved 5s after the reconnect")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
