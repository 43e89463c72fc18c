package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// clusterNode is one nats-server process of a JetStream cluster on
// 127.0.0.1, with fixed client and route ports and a fixed store dir, so it
// can be killed and started again.
type clusterNode struct {
	Name       string
	Port       int
	RoutePort  int
	Dir        string
	ConfigPath string
	proc       *testenv.Process
}

// natsCluster is a JetStream cluster of nats-server processes.
type natsCluster struct {
	Nodes []*clusterNode
	// URL lists every node's client URL, comma separated (what nats.Connect
	// and the config's nats.url take).
	URL string
}

// startCluster starts size nats-server processes routed to each other as
// one JetStream cluster and waits (bounded) until JetStream answers.
func startCluster(t *testing.T, size int) *natsCluster {
	t.Helper()
	c := &natsCluster{}
	var urls, routes []string
	for i := range size {
		n := &clusterNode{
			Name: fmt.Sprintf("n%d", i+1), Port: testenv.FreePort(t), RoutePort: testenv.FreePort(t),
			Dir: t.TempDir(),
		}
		c.Nodes = append(c.Nodes, n)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.Port))
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", n.RoutePort))
	}
	c.URL = strings.Join(urls, ",")
	for _, n := range c.Nodes {
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream {
  store_dir: %q
}
cluster {
  name: chaos
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, n.Name, n.Port, filepath.Join(n.Dir, "js"), n.RoutePort, strings.Join(routes, ", "))
		n.ConfigPath = filepath.Join(n.Dir, "nats.conf")
		if err := os.WriteFile(n.ConfigPath, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes {
		n.Start(t)
	}
	c.waitJetStream(t, 30*time.Second)
	return c
}

// Start starts the node (again) with its config file and waits until it
// accepts connections.
func (n *clusterNode) Start(t *testing.T) {
	t.Helper()
	n.proc = startNATSProcess(t, "nats-server "+n.Name, n.Port, "-c", n.ConfigPath)
}

// Kill9 kills the node with SIGKILL and waits for it to exit.
func (n *clusterNode) Kill9(t *testing.T) {
	t.Helper()
	n.proc.Kill9(t)
	n.proc.Wait(t, 10*time.Second)
}

// node returns the node named name, or nil.
func (c *natsCluster) node(name string) *clusterNode {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// waitJetStream waits until the cluster has a meta leader: an account info
// request succeeds.
func (c *natsCluster) waitJetStream(t *testing.T, timeout time.Duration) {
	t.Helper()
	nc, err := nats.Connect(c.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", c.URL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, timeout, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil, fmt.Sprintf("JetStream of the cluster not answering: %v", err)
	})
}

// streamLeader is the server name of stream's Raft leader ("" while there
// is none or the request fails).
func streamLeader(js jetstream.JetStream, stream string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return ""
	}
	if ci := s.CachedInfo(); ci != nil && ci.Cluster != nil {
		return ci.Cluster.Leader
	}
	return ""
}

// consumerLeader is the server name of a consumer's Raft leader ("" while
// there is none or the request fails).
func consumerLeader(js jetstream.JetStream, stream, consumer string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return ""
	}
	if ci := c.CachedInfo(); ci != nil && ci.Cluster != nil {
		return ci.Cluster.Leader
	}
	return ""
}

// retryingPublisher publishes messages in paced chunks and publishes again
// (same Nats-Msg-Id, so JetStream drops a copy it already stored) every
// message whose ack did not come: an error, a timeout, a leader election.
// A message counts as published only once JetStream acked it.
type retryingPublisher struct {
	js      jetstream.JetStream
	mu      sync.Mutex
	acked   int
	retries int
	lastErr error
	done    chan struct{}
	err     error
}

// newRetryingPublisher opens its own connection to url (closed at cleanup).
func newRetryingPublisher(t *testing.T, url string) *retryingPublisher {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("dispatcher tests publisher"),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024),
		jetstream.WithPublishAsyncTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return &retryingPublisher{js: js, done: make(chan struct{})}
}

// Run publishes msgs in chunks of chunk messages, one chunk every every,
// in a goroutine, giving up after timeout; Wait returns its error.
func (p *retryingPublisher) Run(msgs []testenv.Msg, chunk int, every, timeout time.Duration) {
	go func() {
		defer close(p.done)
		deadline := time.Now().Add(timeout)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for start := 0; start < len(msgs); start += chunk {
			if err := p.publishChunk(msgs[start:min(start+chunk, len(msgs))], deadline); err != nil {
				p.err = err
				return
			}
			<-tick.C
		}
	}()
}

// publishChunk publishes msgs asynchronously and again those not acked,
// until every one is acked or deadline passes.
func (p *retryingPublisher) publishChunk(msgs []testenv.Msg, deadline time.Time) error {
	todo := msgs
	for len(todo) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d messages not acked before the deadline; last error: %w", len(todo), p.LastErr())
		}
		var failed []testenv.Msg
		futures := make([]jetstream.PubAckFuture, len(todo))
		for i, m := range todo {
			f, err := p.js.PublishMsgAsync(m.NATSMsg())
			if err != nil {
				p.noteErr(err)
				failed = append(failed, m)
				continue
			}
			futures[i] = f
		}
		for i, f := range futures {
			if f == nil {
				continue
			}
			select {
			case <-f.Ok():
				p.mu.Lock()
				p.acked++
				p.mu.Unlock()
			case err := <-f.Err():
				p.noteErr(err)
				failed = append(failed, todo[i])
			case <-time.After(5 * time.Second):
				p.noteErr(errors.New("no ack within 5s"))
				failed = append(failed, todo[i])
			}
		}
		if len(failed) > 0 {
			p.mu.Lock()
			p.retries += len(failed)
			p.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
		todo = failed
	}
	return nil
}

func (p *retryingPublisher) noteErr(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
}

// Acked is the number of messages acked so far.
func (p *retryingPublisher) Acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

// Retries is the number of publishes made again so far.
func (p *retryingPublisher) Retries() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retries
}

// LastErr is the last publish error seen.
func (p *retryingPublisher) LastErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Wait waits (bounded) for Run to end and returns its error.
func (p *retryingPublisher) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("publisher still running after %s (%d acked)", timeout, p.Acked())
	}
}
