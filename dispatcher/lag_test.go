package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
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

// publishJobs publishes n jobs on subject, each with an id of its own.
func publishJobs(ctx context.Context, t testing.TB, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	for range n {
		id := fmt.Sprintf("%s-%d", subject, jobIDs.Add(1))
		m := nats.NewMsg(subject)
		m.Data = fmt.Appendf(nil, `{"id":%q}`, id)
		m.Header.Set(jetstream.MsgIDHeader, id)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

var jobIDs atomic.Int64

// TestReadLag builds an upgrade in progress by hand: jobs and fired copies
// stored before the subject transforms with an old consumer holding one,
// then partitions, jobs in flight on a partition's consumer (one
// redelivered), fired copies, scheduled copies, records and orphans.
func TestReadLag(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Before partitions: no subject transforms.
	for _, sc := range dispatcher.StreamConfigs(topo, dispatcher.StreamSettings{}) {
		sc.SubjectTransform = nil
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	publishJobs(ctx, t, js, "dispatch.jobs.alpha", 2)
	publishJobs(ctx, t, js, "dispatch.due.alpha", 1)
	old, err := js.CreateOrUpdateConsumer(ctx, topo.JobsStream(), jetstream.ConsumerConfig{
		Durable: topo.ConsumerName("alpha"), FilterSubject: topo.JobsSubject("alpha"), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
		t.Fatal(err)
	}

	// Partitions.
	const parts = 8
	if err := dispatcher.EnsureStreams(ctx, js, topo, dispatcher.StreamSettings{Partitions: parts}); err != nil {
		t.Fatal(err)
	}
	jobsCons, _, err := dispatcher.EnsurePartitions(ctx, js, topo, parts)
	if err != nil {
		t.Fatal(err)
	}
	ka := schemas.Partition("alpha", parts)
	if schemas.Partition("bravo", parts) != ka {
		t.Fatal("the test wants alpha and bravo in one partition")
	}
	// With MaxAckPending 4 the only message the consumer can deliver next
	// is the nak'ed one, however late the server processes the Nak.
	cc := jobsCons[ka].CachedInfo().Config
	cc.MaxAckPending = 4
	part, err := js.CreateOrUpdateConsumer(ctx, topo.JobsStream(), cc)
	if err != nil {
		t.Fatal(err)
	}
	publishJobs(ctx, t, js, "dispatch.jobs.alpha", 10)
	publishJobs(ctx, t, js, "dispatch.jobs.bravo", 3)
	publishJobs(ctx, t, js, "dispatch.jobs.charlie", 1) // configured
	publishJobs(ctx, t, js, "dispatch.jobs.zzz", 2)     // orphan
	publishJobs(ctx, t, js, "dispatch.jobs.x.y", 1)     // no target's subject: an orphan as published
	publishJobs(ctx, t, js, "dispatch.due.alpha", 1)    // fired copy, in the partition
	publishJobs(ctx, t, js, "dispatch.sched.alpha.DISPATCH_JOBS-1", 1)
	publishJobs(ctx, t, js, "dispatch.sched.alpha.DISPATCH_JOBS-2", 1)

	// alpha: 4 delivered and not acked, one of them nak'ed and delivered again.
	batch, err := part.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
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
	if err := got[0].Nak(); err != nil {
		t.Fatal(err)
	}
	again, err := part.Next(jetstream.FetchMaxWait(5 * time.Second))
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
	if lag.PartitionCount != parts || lag.SchedStream != "DISPATCH_SCHED" {
		t.Errorf("partition count %d, sched stream %q", lag.PartitionCount, lag.SchedStream)
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
		pending, legacy, retrying, dead, fallback uint64
		partition                                 int
		hasOldest                                 bool
	}
	want := map[string]counts{
		// 10 jobs (4 in flight) and a fired copy in the partitions, 2 jobs
		// (1 in flight on the old consumer) and a fired copy stored before.
		"alpha":   {14, 3, 2, 2, 0, ka, true},
		"bravo":   {3, 0, 0, 0, 1, ka, true},
		"charlie": {1, 0, 0, 0, 0, schemas.Partition("charlie", parts), true},
		"zzz":     {2, 0, 0, 1, 0, schemas.Partition("zzz", parts), true}, // an orphan with a dead letter
	}
	for name, w := range want {
		r := byTarget[name]
		p := -1
		if r.Partition != nil {
			p = *r.Partition
		}
		got := counts{r.Pending, r.LegacyPending, r.Retrying, r.Dead, r.Fallback, p, r.OldestPendingAt != nil}
		if got != w {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}
	if a := byTarget["alpha"]; a.OldestPendingSeconds < 3599 || a.OldestPendingSeconds > 3700 {
		t.Errorf("alpha: oldest %.0fs, want about an hour on the fake clock", a.OldestPendingSeconds)
	}

	if len(lag.Partitions) != parts {
		t.Fatalf("%d partitions, want %d", len(lag.Partitions), parts)
	}
	for k, p := range lag.Partitions {
		if p.Partition != k || p.Jobs == nil || p.Due == nil || p.Jobs.Consumer != topo.PartConsumerName(k) || p.Due.Consumer != topo.DuePartConsumerName(k) {
			t.Fatalf("partition %d: %+v", k, p)
		}
	}
	pj, pd := lag.Partitions[ka].Jobs, lag.Partitions[ka].Due
	// alpha's 10 and bravo's 3 in the partition: 4 in flight, 9 never delivered.
	if pj.Pending != 9 || pj.InFlight != 4 || pj.Redelivered != 1 || pj.Delivered != 5 || pj.LastActive == nil || pj.Stream != "DISPATCH_JOBS" {
		t.Errorf("partition %d jobs consumer %+v", ka, *pj)
	}
	if pd.Pending != 1 || pd.InFlight != 0 || pd.Stream != "DISPATCH_SCHED" {
		t.Errorf("partition %d due consumer %+v", ka, *pd)
	}
	if len(lag.LegacyConsumers) != 1 {
		t.Fatalf("legacy consumers %+v, want dispatch_alpha", lag.LegacyConsumers)
	}
	if l := lag.LegacyConsumers[0]; l.Target != "alpha" || l.Consumer != "dispatch_alpha" || l.Stream != "DISPATCH_JOBS" || l.Pending != 1 || l.InFlight != 1 {
		t.Errorf("legacy consumer %+v", l)
	}

	kz := schemas.Partition("zzz", parts)
	if len(lag.Orphans) != 2 {
		t.Fatalf("orphans %+v, want dispatch.jobs.x.y and dispatch.jobs.zzz", lag.Orphans)
	}
	for i, w := range []dispatcher.Orphan{
		{Subject: "dispatch.jobs.x.y", StoredSubject: "dispatch.jobs.x.y", Target: "x.y", Messages: 1},
		{Subject: "dispatch.jobs.zzz", StoredSubject: fmt.Sprintf("dispatch.part.%d.zzz", kz), Target: "zzz", Messages: 2},
	} {
		o := lag.Orphans[i]
		if o.Subject != w.Subject || o.StoredSubject != w.StoredSubject || o.Target != w.Target || o.Messages != w.Messages || o.OldestAt == nil {
			t.Errorf("orphan %d: %+v, want %+v", i, o, w)
		}
	}

	// Without the config, only the targets with records have rows, and
	// every stored job is an orphan, shown as published.
	lag, err = dispatcher.ReadLag(ctx, js, topo, dispatcher.LagSettings{})
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, o := range lag.Orphans {
		subjects = append(subjects, o.Subject+"="+o.StoredSubject)
	}
	wantSubjects := fmt.Sprintf("[dispatch.due.alpha=dispatch.due.alpha dispatch.due.alpha=dispatch.duepart.%[1]d.alpha "+
		"dispatch.jobs.alpha=dispatch.jobs.alpha dispatch.jobs.alpha=dispatch.part.%[1]d.alpha dispatch.jobs.bravo=dispatch.part.%[1]d.bravo "+
		"dispatch.jobs.charlie=dispatch.part.%[2]d.charlie dispatch.jobs.x.y=dispatch.jobs.x.y dispatch.jobs.zzz=dispatch.part.%[3]d.zzz]",
		ka, schemas.Partition("charlie", parts), kz)
	if fmt.Sprint(subjects) != wantSubjects || len(lag.Targets) != 3 {
		t.Errorf("without config: %d targets, orphans\n%v\nwant 3 targets (records) and orphans\n%s", len(lag.Targets), subjects, wantSubjects)
	}

	// --target alpha: alpha only.
	lag, err = dispatcher.ReadLag(ctx, js, topo, dispatcher.LagSettings{Known: []string{"alpha", "bravo"}, Only: []string{"alpha"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lag.Targets) != 1 || lag.Targets[0].Target != "alpha" || len(lag.Orphans) != 0 || len(lag.LegacyConsumers) != 1 || len(lag.Partitions) != parts {
		t.Errorf("only alpha: %+v", lag)
	}
	// --target bravo: no legacy consumer of bravo's, every partition still.
	lag, err = dispatcher.ReadLag(ctx, js, topo, dispatcher.LagSettings{Known: []string{"alpha", "bravo"}, Only: []string{"bravo"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lag.Targets) != 1 || len(lag.LegacyConsumers) != 0 || len(lag.Partitions) != parts {
		t.Errorf("only bravo: %+v", lag)
	}
}

func TestReadLagNoStream(t *testing.T) {
	js, _ := lagServer(t)
	_, err := dispatcher.ReadLag(context.Background(), js, schemas.Topology{Prefix: "other"}, dispatcher.LagSettings{})
	if err == nil || !errors.Is(err, dispatcher.ErrNoJobsStream) {
		t.Errorf("ReadLag without streams: %v, want ErrNoJobsStream", err)
	}
}
