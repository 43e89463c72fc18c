package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
)

// topo is the subject prefix every run uses (the contract's default).
var topo = schemas.Topology{Prefix: "dispatch"}

// broker is a nats-server child with the harness's own connection to it.
type broker struct {
	proc    *proc
	url     string
	nc      *nats.Conn
	js      jetstream.JetStream
	pubErrs atomic.Int64
}

// startBroker starts nats-server with JetStream on a free port of 127.0.0.1
// with a fresh store under dir, connects and creates the streams exactly
// as dispatcher would — or, perTarget, the jobs stream as a build before
// partitions did (the baseline system is one: -baseline-bin).
func (h *harness) startBroker(ctx context.Context, dir string, perTarget bool) (*broker, error) {
	portsDir := filepath.Join(dir, "ports")
	if err := os.MkdirAll(portsDir, 0o755); err != nil {
		return nil, err
	}
	argv := []string{h.natsBin, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", filepath.Join(dir, "nats-store"),
		"--ports_file_dir", portsDir}
	if n := h.opt.natsMaxConsumers; n != 0 {
		// No flag sets it: a config file does, the flags win over the rest.
		conf := filepath.Join(dir, "nats-server.conf")
		if err := os.WriteFile(conf, fmt.Appendf(nil, "jetstream { limits { default_max_consumers: %d } }\n", n), 0o644); err != nil {
			return nil, err
		}
		argv = append(argv, "-c", conf)
	}
	p, err := h.procs.start("nats-server", filepath.Join(dir, "nats-server.log"), argv...)
	if err != nil {
		return nil, err
	}
	b := &broker{proc: p}
	url, err := waitPortsFile(ctx, p, portsDir, 15*time.Second)
	if err != nil {
		b.close()
		return nil, err
	}
	b.url = url
	b.nc, err = nats.Connect(url, nats.Timeout(5*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		b.close()
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	b.js, err = jetstream.New(b.nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(30*time.Second),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { b.pubErrs.Add(1) }))
	if err != nil {
		b.close()
		return nil, err
	}
	err = retryFor(ctx, 15*time.Second, func(ctx context.Context) error {
		if perTarget {
			// A build before partitions (a baseline) consumes <p>.jobs.<t>
			// as published: the jobs stream as it created it, without the
			// subject transform; it creates the rest itself.
			_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
				Name: topo.JobsStream(), Subjects: []string{topo.JobsWildcard(), topo.RetryWildcard()},
				Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: 1,
				Discard: jetstream.DiscardOld, Duplicates: 2 * time.Minute,
				AllowMsgSchedules: true, AllowRollup: true, AllowDirect: true,
			})
			return err
		}
		return dispatcher.EnsureStreams(ctx, b.js, topo, dispatcher.StreamSettings{
			Replicas: 1, DeadLetterMaxAge: 720 * time.Hour, FallbackMaxAge: 168 * time.Hour,
		})
	})
	if err != nil {
		b.close()
		return nil, fmt.Errorf("streams: %w", err)
	}
	return b, nil
}

func waitPortsFile(ctx context.Context, p *proc, dir string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if err := p.exitedEarly(); err != nil {
			return "", err
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.ports"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var ports struct {
				NATS []string `json:"nats"`
			}
			if json.Unmarshal(b, &ports) == nil && len(ports.NATS) > 0 {
				return ports.NATS[0], nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("nats-server: no ports file within %s (see %s)", timeout, p.log.Name())
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return "", err
		}
	}
}

func (b *broker) close() {
	if b.nc != nil {
		b.nc.Close()
	}
	b.proc.stop(10 * time.Second)
}

// job is one job to publish.
type job struct {
	id, target, path string
	n                int
}

func (j job) subject() string { return topo.JobsSubject(j.target) }

func (j job) data() []byte {
	return fmt.Appendf(nil, `{"id":%q,"path":%q,"body":{"n":%d}}`, j.id, j.path, j.n)
}

func jobID(prefix string, i int) string { return fmt.Sprintf("%s-%06d", prefix, i) }

// publishAsync publishes one job without waiting for its ack.
func (b *broker) publishAsync(j job) error {
	_, err := b.js.PublishAsync(j.subject(), j.data(), jetstream.WithMsgID(j.id), jetstream.WithStallWait(5*time.Second))
	return err
}

// publishAll publishes jobs asynchronously and waits (bounded) until
// JetStream acked every one.
func (b *broker) publishAll(ctx context.Context, jobs []job) error {
	for _, j := range jobs {
		if err := b.publishAsync(j); err != nil {
			return fmt.Errorf("publish %s: %w", j.id, err)
		}
	}
	return b.waitPublished(ctx, 60*time.Second)
}

// errPublishTimeout is publishWithin's error when the timeout passed
// before every job was published and acked.
var errPublishTimeout = errors.New("publish: timed out")

// publishWithin publishes jobs asynchronously, waiting whenever JetStream
// has too many unacked (a server slow to store them stalls the publisher),
// and waits until every one was acked; it gives up timeout after it began
// (errPublishTimeout, with how many jobs it had handed to the client).
func (b *broker) publishWithin(ctx context.Context, jobs []job, timeout time.Duration) (sent int, err error) {
	deadline := time.Now().Add(timeout)
	for _, j := range jobs {
		for {
			err := b.publishAsync(j)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
				return sent, fmt.Errorf("publish %s: %w", j.id, err)
			}
			if time.Now().After(deadline) {
				return sent, fmt.Errorf("%w: %d of %d jobs handed to the client within %s", errPublishTimeout, sent, len(jobs), timeout)
			}
		}
		sent++
	}
	if err := b.waitPublished(ctx, max(time.Until(deadline), time.Second)); err != nil {
		if ctx.Err() == nil && b.js.PublishAsyncPending() > 0 {
			return sent, fmt.Errorf("%w: %w", errPublishTimeout, err)
		}
		return sent, err
	}
	return sent, nil
}

func (b *broker) waitPublished(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-b.js.PublishAsyncComplete():
	case <-t.C:
		return fmt.Errorf("publish: %d jobs not acked within %s", b.js.PublishAsyncPending(), timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := b.pubErrs.Load(); n > 0 {
		return fmt.Errorf("publish: %d jobs not stored", n)
	}
	return nil
}

// streamMsgs is the message count of a stream.
func (b *broker) streamMsgs(ctx context.Context, name string) (int, error) {
	st, err := b.streamState(ctx, name)
	return int(st.Msgs), err
}

// streamState is the state of a stream: its messages, consumers, ….
func (b *broker) streamState(ctx context.Context, name string) (jetstream.StreamState, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := b.js.Stream(ctx, name)
	if err != nil {
		return jetstream.StreamState{}, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, err
	}
	return info.State, nil
}

// recordIDs reads every record of a dead-letter or fallback stream and
// returns job id → the record's store time. The id comes from the
// Dispatch-Job-Id header, else from the record's job.id.
func (b *broker) recordIDs(ctx context.Context, stream string) (map[string]time.Time, error) {
	want, err := b.streamMsgs(ctx, stream)
	if err != nil || want == 0 {
		return map[string]time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cons, err := b.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for got := 0; got < want; {
		batch, err := cons.Fetch(min(want-got, 500), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			id := m.Headers().Get("Dispatch-Job-Id")
			if id == "" {
				var rec struct {
					Job *struct {
						ID string `json:"id"`
					} `json:"job"`
				}
				if json.Unmarshal(m.Data(), &rec) == nil && rec.Job != nil {
					id = rec.Job.ID
				}
			}
			if id == "" {
				id = "?seq-" + strconv.Itoa(got+n)
			}
			if md, err := m.Metadata(); err == nil {
				out[id] = md.Timestamp
			} else {
				out[id] = time.Time{}
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if n == 0 {
			return out, fmt.Errorf("%s: read %d of %d records", stream, got, want)
		}
		got += n
	}
	return out, nil
}

// retryFor calls f until it succeeds or timeout passes.
func retryFor(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
