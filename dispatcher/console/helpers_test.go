package console

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

var testTopo = schemas.Topology{Prefix: "dispatch"}

// startJS starts a JetStream server (stopped at cleanup) with the
// dead-letter stream, and connects to it.
func startJS(t testing.TB) jetstream.JetStream {
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
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: testTopo.DLQStream(), Subjects: []string{testTopo.DLQWildcard()}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	return js
}

// fakeBackend serves fixed targets.
type fakeBackend struct{ targets []TargetState }

func (f fakeBackend) Targets() []TargetState                                       { return f.targets }
func (fakeBackend) Fleet(context.Context) (*Fleet, error)                          { return &Fleet{Complete: true}, nil }
func (fakeBackend) Pause(context.Context, string, time.Time, string, string) error { return nil }
func (fakeBackend) Resume(context.Context, string, string) (bool, error)           { return true, nil }

// tokenAuth is a fixed token ("" for none).
type tokenAuth string

func (a tokenAuth) TokenDigest() *[sha256.Size]byte {
	if a == "" {
		return nil
	}
	d := sha256.Sum256([]byte(a))
	return &d
}
