package dispatcher

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
)

// EmbeddedOptions configure the embedded JetStream server.
type EmbeddedOptions struct {
	// Listen is host:port for clients (default 127.0.0.1:4222).
	Listen string
	// StoreDir is where JetStream keeps its files (default ./data/nats).
	StoreDir string
	// Token is the token every client must present; empty for none, which
	// is refused unless Listen is a loopback address.
	Token string
}

// ErrEmbeddedAuth is returned (wrapped) by StartEmbedded for a listen
// address beyond loopback without a token.
var ErrEmbeddedAuth = errors.New("nats.embedded.token: is required when nats.embedded.listen is not a loopback address")

// StartEmbedded starts a JetStream-enabled nats-server in this process,
// reachable by other commands and the nats tool on Listen.
func StartEmbedded(o EmbeddedOptions) (*server.Server, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:4222"
	}
	if o.StoreDir == "" {
		o.StoreDir = "./data/nats"
	}
	if o.Token == "" && !config.LoopbackListen(o.Listen) {
		// config.Parse refuses this already; a Config built in code too.
		return nil, fmt.Errorf("%w (got %q)", ErrEmbeddedAuth, o.Listen)
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
		// Token auth: every client, the service's own connection included,
		// presents it. The server compares it in constant time.
		Authorization: o.Token,
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
