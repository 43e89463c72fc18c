package testenv

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Broker is a test's own nats-server with a client connection to it.
type Broker struct {
	Server *server.Server
	URL    string
	NC     *nats.Conn
	JS     jetstream.JetStream
}

// NewBroker starts NATS(t) and connects to it.
func NewBroker(t testing.TB) *Broker {
	t.Helper()
	srv := NATS(t)
	nc, js := Connect(t, srv.ClientURL())
	return &Broker{Server: srv, URL: srv.ClientURL(), NC: nc, JS: js}
}

// Config is Config(b.URL, overrides...).
func (b *Broker) Config(overrides ...M) string { return Config(b.URL, overrides...) }

// Publish publishes one message and waits for its ack.
func (b *Broker) Publish(t testing.TB, m Msg) {
	t.Helper()
	Publish(t, b.JS, m)
}

// PublishMany publishes msgs and waits for every ack.
func (b *Broker) PublishMany(t testing.TB, msgs []Msg) {
	t.Helper()
	PublishMany(t, b.JS, msgs)
}
