package testenv

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS starts a JetStream-enabled nats-server on a random port of
// 127.0.0.1, storing in a fresh temp dir, and shuts it down at cleanup.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	return NATSAt(t, -1, t.TempDir())
}

// NATSAt starts a JetStream-enabled nats-server on 127.0.0.1:port storing
// in storeDir; port -1 picks a random one. Restart tests shut the returned
// server down and call NATSAt again with the same port (see FreePort) and
// store dir, so clients reconnect and find their streams. Every server
// started is shut down at cleanup.
func NATSAt(t testing.TB, port int, storeDir string) *server.Server {
	t.Helper()
	return NATSWith(t, func(o *server.Options) { o.Port, o.StoreDir = port, storeDir })
}

// NATSWith starts a JetStream-enabled nats-server on a random port of
// 127.0.0.1, storing in a fresh temp dir, after with has changed its
// options (access settings, a fixed port); it is shut down at cleanup.
func NATSWith(t testing.TB, with func(o *server.Options)) *server.Server {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	with(o)
	srv, err := server.NewServer(o)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats-server not ready within 10s")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Connect opens a client connection to url that reconnects quickly and
// forever (it outlives server restarts), with a JetStream handle; both are
// closed at cleanup.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("dispatcher tests"),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2048))
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}
