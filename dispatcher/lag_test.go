package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// natsServer starts a JetStream nats-server on a free loopback port,
// stopped at the test's end.
func natsServer(t testing.TB) *server.Server {
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
	return srv
}

// lagServer starts a JetStream server with the dispatcher's streams.
func lagServer(t *testing.T) (jetstream.JetStream, schemas.Topology) {
	t.Helper()
	srv := natsServer(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	topo := schemas.Topology{Prefix: "dispatch"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dispatcher.EnsureStreams(ctx, js, topo, dispatcher.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	return js, topo
}

func TestReadLag(t *testing.T) {
	js, topo := lagServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conss, err := dispatcher.EnsureConsumers(ctx, js, topo, worker.Target{Name: "alpha"})
	alpha := conss[0]
	if err != nil {
		t.Fatal(err)
	}
	cc := alpha.CachedInfo().Config
	cc.MaxAckPending = 4
	if alpha, err = js.CreateOrUpdateConsumer(ctx, topo.JobsStream(), cc); err != nil {
		t.Fatal(err)
	}
	if _, err := dispatcher.EnsureConsumers(ctx, js, topo, worker.Target{Name: "bravo"}); err != nil {
		t.Fatal(err)
	}
	publish := func(subject string, n int) {
		for i := range n {
			m := nats.NewMsg(subject)
			m.Data = fmt.Appendf(nil, `{"id":"%s-%d"}`, subject, i)
			m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d", subject, i))
			if _, err := js.PublishMsg(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("dispatch.jobs.alpha", 10)
	publish("dispatch.jobs.bravo", 3)
	publish("dispatch.jobs.charlie", 1) // configured, no consumer yet
	publish("dispatch.jobs.zzz", 2)     // orphan
	publish("dispatch.retry.alpha.1", 1)
	publish("dispatch.retry.alpha.2", 1)

	// alpha: 4 delivered and not acked, one of them nak'ed and delivered again.
	batch, err := alpha.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []jetstream.Msg
	for m := range batch.Messages() {
		got = append(got, m)
	}
	if len(got) != 4 {
		t.Fatalf("fetched %d, want 4", len(got))
	}
	// With MaxAckPending 4 (set below) the only message the consumer can
	// deliver next is the nak'ed one, however late the server processes the
	// Nak.
	if err := got[0].Nak(); err != nil {
		t.Fatal(err)
	}
	again, err := alpha.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if md, _ := again.Metadata(); md.NumDelivered != 2 {
		t.Fatalf("expected the nak'ed job again, got delivery %d", md.NumDelivered)
	}

	w := deadletter.NewWriter(js, "dispatch")
	for i, tg := range []string{"alpha", "alpha", "zzz"} {
		rec := &schemas.DeadLetter{Target: tg, Reason: schemas.ReasonExhausted, ErrorClass: "http_5xx", DeadAt: time.Now()}
		if err := w.DeadLetter(ctx, rec, fmt.Sprintf("dlq-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Fallback(ctx, &schemas.Fallback{Target: "bravo", Reason: schemas.ReasonCircuitOpen, At: time.Now()}, "fb-1"); err != nil {
		t.Fatal(err)
	}

	now := time.Now().Add(time.Hour)
	lag, err := dispatcher.ReadLag(ctx, js, topo, dispatcher.LagSettings{Known: []string{"alpha", "bravo", "charlie"}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	byTarget := map[string]dispatcher.TargetLag{}
	var names []string
	for _, r := range lag.Targets {
		byTarget[r.Target] = r
		names = append(names, r.Target)
	}
	if fmt.Sprint(names) != "[alpha bravo charlie zzz]" {
		t.Fatalf("targets %v, want [alpha bravo charlie zzz] in order", names)
	}
	type counts struct {
		consumer                 string
		pending                  uint64
		inFlight, redelivered    int
		retrying, dead, fallback uint64
		hasOldest, hasActive     bool
	}
	want := map[string]counts{
		"alpha":   {"dispatch_alpha", 6, 4, 1, 2, 2, 0, true, true},
		"bravo":   {"dispatch_bravo", 3, 0, 0, 0, 0, 1, true, false},
		"charlie": {"", 1, 0, 0, 0, 0, 0, true, false},
		"zzz":     {"", 2, 0, 0, 0, 1, 0, true, false},
	}
	for name, w := range want {
		r := byTarget[name]
		got := counts{r.Consumer, r.Pending, r.InFlight, r.Redelivered, r.Retrying, r.Dead, r.Fallback, r.OldestPendingAt != nil, r.LastActive != nil}
		if got != w {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}
	if a := byTarget["alpha"]; a.OldestPendingSeconds < 3599 || a.OldestPendingSeconds > 3700 || a.Delivered != 5 {
		t.Errorf("alpha: oldest %.0fs (want about an hour on the fake clock), delivered %d (want 5)", a.OldestPendingSeconds, a.Delivered)
	}
	if len(lag.Orphans) != 1 || lag.Orphans[0].Subject != "dispatch.jobs.zzz" || lag.Orphans[0].Messages != 2 || lag.Orphans[0].OldestAt == nil {
		t.Errorf("orphans %+v, want dispatch.jobs.zzz with 2", lag.Orphans)
	}

	// Without the config, charlie's jobs are orphans too and charlie has no row.
	lag, err = dispatcher.ReadLag(ctx, js, topo, dispatcher.LagSettings{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lag.Orphans) != 2 || len(lag.Targets) != 3 {
		t.Errorf("without config: %d targets, orphans %+v; want 3 targets and charlie, zzz orphaned", len(lag.Targets), lag.Orphans)
	}

	// --target alpha: alpha only.
	lag, err = dispatcher.ReadLag(ctx, js, topo, dispatcher.LagSettings{Only: []string{"alpha"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lag.Targets) != 1 || lag.Targets[0].Target != "alpha" || len(lag.Orphans) != 0 {
		t.Errorf("only alpha: %+v", lag)
	}
}

func TestReadLagNoStream(t *testing.T) {
	js, _ := lagServer(t)
	_, err := dispatcher.ReadLag(context.Background(), js, schemas.Topology{Prefix: "other"}, dispatcher.LagSettings{})
	if err == nil || !errors.Is(err, dispatcher.ErrNoJobsStream) {
		t.Errorf("ReadLag without streams: %v, want ErrNoJobsStream", err)
	}
}
