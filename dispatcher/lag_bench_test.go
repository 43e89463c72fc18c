package dispatcher

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// BenchmarkReadLag10k reads the lag of 10,000 configured targets, each
// with one job stored in its partition (10,000 subjects in the jobs
// stream): as 'dispatcher lag' does (full), as the metrics poller does
// (backlog), and the poller's reading with the same 10,000 targets idle.
func BenchmarkReadLag10k(b *testing.B) {
	const targets, parts = 10000, 8
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: b.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		b.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats-server not ready")
	}
	b.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topo := schemas.Topology{Prefix: "dispatch"}
	if err := EnsureStreams(ctx, js, topo, StreamSettings{Partitions: parts}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := EnsurePartitions(ctx, js, topo, parts); err != nil {
		b.Fatal(err)
	}
	names := make([]string, targets)
	for i := range names {
		names[i] = fmt.Sprintf("target-%05d", i)
	}
	idle := LagSettings{Known: names, Only: names, backlogOnly: true}
	b.Run("poller-idle", func(b *testing.B) {
		r := newLagReader(js, topo)
		for b.Loop() {
			if _, err := r.read(ctx, idle); err != nil {
				b.Fatal(err)
			}
		}
	})
	var acks []jetstream.PubAckFuture
	for _, t := range names {
		f, err := js.PublishAsync(topo.JobsSubject(t), []byte(`{"id":"x"}`))
		if err != nil {
			b.Fatal(err)
		}
		acks = append(acks, f)
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		case <-ctx.Done():
			b.Fatal(ctx.Err())
		}
	}
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			lag, err := ReadLag(ctx, js, topo, LagSettings{Known: names})
			if err != nil {
				b.Fatal(err)
			}
			if len(lag.Targets) != targets || lag.Targets[0].OldestPendingAt == nil {
				b.Fatalf("%d targets, want %d with their oldest", len(lag.Targets), targets)
			}
		}
	})
	b.Run("poller", func(b *testing.B) {
		r := newLagReader(js, topo)
		for b.Loop() {
			lag, err := r.read(ctx, idle)
			if err != nil {
				b.Fatal(err)
			}
			if lag.Targets[0].Pending != 1 {
				b.Fatalf("pending %d, want 1", lag.Targets[0].Pending)
			}
		}
	})
}
