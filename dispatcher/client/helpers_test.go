package client_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startServer starts a JetStream server in a temp dir and returns its URL
// and a function that stops it and removes the dir.
func startServer() (string, func(), error) {
	dir, err := os.MkdirTemp("", "client-test-")
	if err != nil {
		return "", nil, err
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		return "", nil, err
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		return "", nil, os.ErrDeadlineExceeded
	}
	return srv.ClientURL(), func() { srv.Shutdown(); srv.WaitForShutdown(); os.RemoveAll(dir) }, nil
}

// createJobsStream creates the jobs stream the way the service does, for
// the subject prefix "dispatch".
func createJobsStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DISPATCH_JOBS",
		Subjects: []string{"dispatch.jobs.>"}, Retention: jetstream.WorkQueuePolicy, Duplicates: 2 * time.Minute})
	return err
}

// broker is a test's server with a connection and the jobs stream.
func broker(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	url, stop, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	nc, err := nats.Connect(url)
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
	if err := createJobsStream(ctx, js); err != nil {
		t.Fatal(err)
	}
	return nc, js
}
