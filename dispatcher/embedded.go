package dispatcher

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configure the embedded JetStream server.
type EmbeddedOptions struct {
	// Listen is host:port for clients (default 127.0.0.1:4222).
	Listen string
	// StoreDir is where JetStream keeps its files (default ./data/nats).
	StoreDir string
}

// StartEmbedded starts a JetStream-enabled nats-server in this process,
// reachable by other commands and the nats tool on Listen.
func StartEmbedded(o EmbeddedOptions) (*server.Server, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:4222"
	}
	if o.StoreDir == "" {
		o.StoreDir = "./data/nats"
	}
	host, portStr, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("nats.embedded.listen %q: %w", o.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats.embedded.listen %q: bad port", o.Listen)
	}
	if port == 0 {
		port = -1 // a random free port
	}
	if err := os.MkdirAll(o.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("nats.embedded.store_dir: %w", err)
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "dispatcher-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats-server on %s not ready within 15s (port in use?)", o.Listen)
	}
	return srv, nil
}
