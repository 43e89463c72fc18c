package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Defaults of the options.
const (
	DefaultSubjectPrefix = "dispatch"
	DefaultAsyncWindow   = 4096
	DefaultAckTimeout    = 10 * time.Second
)

// headerRoom is kept under the server's max payload for the headers.
const headerRoom = 512

var ()

// Publisher publishes jobs to the jobs stream. It is safe for concurrent use.
type Publisher struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	topo  schemas.Topology
	ackTO time.Duration
}

type options struct {
	prefix string
	window int
	ackTO  time.Duration
}

// Option configures a Publisher.
type Option func(*options) error

// WithSubjectPrefix sets the subject prefix, nats.subject_prefix of the
// service's config (default "dispatch").
func WithSubjectPrefix(p string) Option {
	return func(o *options) error {
		if !schemas.ValidPrefix(p) {
			return fmt.Errorf("%w: subject prefix %q: want dot-separated tokens of letters, digits, _ and -", ErrInvalidOption, p)
		}
		o.prefix = p
		return nil
	}
}

// WithAsyncWindow sets how many asynchronous publishes may await their ack at
// once (default DefaultAsyncWindow). A larger window publishes faster over a
// slow link and holds more jobs in memory.
func WithAsyncWindow(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: async window %d: must be at least 1", ErrInvalidOption, n)
		}
		o.window = n
		return nil
	}
}

// WithAckTimeout sets how long a publish waits for JetStream's ack before it
// is retried (default DefaultAckTimeout).
func WithAckTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: ack timeout %v: must be positive", ErrInvalidOption, d)
		}
		o.ackTO = d
		return nil
	}
}

// New returns a Publisher that publishes over nc.
func New(nc *nats.Conn, opts ...Option) (*Publisher, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil connection", ErrInvalidOption)
	}
	o := options{prefix: DefaultSubjectPrefix, window: DefaultAsyncWindow, ackTO: DefaultAckTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.window), jetstream.WithPublishAsyncTimeout(o.ackTO))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Publisher{nc: nc, js: js, topo: schemas.Topology{Prefix: o.prefix}, ackTO: o.ackTO}, nil
}

// Ack is JetStream's acknowledgement of a published job.
type Ack struct {
	// JobID is the job's id, also its Nats-Msg-Id.
	JobID string `json:"id"`
	// Subject is where the job was published.
	Subject string `json:"subject"`
	// Stream and Sequence say where JetStream stored it.
	Stream   string `json:"stream"`
	Sequence uint64 `json:"seq"`
	// Duplicate is true when JetStream had already stored a job with this id
	// inside its duplicate window and dropped this one.
	Duplicate bool `json:"duplicate"`
}

// Subject returns the subject the jobs of target are published to.
func (p *Publisher) Subject(target string) string { return p.topo.JobsSubject(target) }

// Ready checks that a stream stores the jobs subjects, so that publishing
// can succeed; it wraps ErrNoStream when none does.
func (p *Publisher) Ready(ctx context.Context) error {
	_, err := p.js.StreamNameBySubject(ctx, p.topo.JobsWildcard())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("%w: no stream stores %s (run 'dispatcher serve' once to create the streams)", ErrNoStream, p.topo.JobsWildcard())
	}
	if err != nil {
		return fmt.Errorf("look up the jobs stream: %w", err)
	}
	return nil
}

// Publish checks job against the job schema, publishes it to
// <prefix>.jobs.<job.Target> and waits for the ack.
func (p *Publisher) Publish(ctx context.Context, job *schemas.Job) (*Ack, error) {
	data, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	return p.PublishJSON(ctx, "", data)
}

// PublishJSON checks data, one job as JSON, against the job schema and
// publishes it unchanged. target may be empty when the job names its target;
// when both are given they must agree. A publish whose ack does not come
// (a NATS leader election, a reconnect) is tried again, twice at most, with
// the same Nats-Msg-Id: JetStream stores the job once.
func (p *Publisher) PublishJSON(ctx context.Context, target string, data []byte) (*Ack, error) {
	m, id, err := p.message(target, data)
	if err != nil {
		return nil, err
	}
	return p.retry(ctx, m, id)
}

// publishSync publishes m and waits for the ack, within the ack timeout.
func (p *Publisher) publishSync(ctx context.Context, m *nats.Msg, id string) (*Ack, error) {
	ctx, cancel := context.WithTimeout(ctx, p.ackTO)
	defer cancel()
	pa, err := p.js.PublishMsg(ctx, m)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		return nil, fmt.Errorf("%w: %w: no stream stores %s (run 'dispatcher serve' once to create the streams)", ErrNotPublished, ErrNoStream, m.Subject)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s to %s: %w", ErrNotPublished, id, m.Subject, err)
	}
	return ackOf(id, m.Subject, pa), nil
}

// message validates a job and builds its message.
func (p *Publisher) message(target string, data []byte) (*nats.Msg, string, error) {
	if target != "" && !schemas.ValidTarget(target) {
		return nil, "", fmt.Errorf("%w: target %q: want 1 to 64 letters, digits, _ or -", ErrInvalidOption, target)
	}
	if max := int(p.nc.MaxPayload()) - headerRoom; len(data) > max {
		return nil, "", fmt.Errorf("%w: %d bytes, over the server's max payload of %d", ErrTooLarge, len(data), p.nc.MaxPayload())
	}
	job, err := schemas.DecodeJob(data)
	if err != nil {
		return nil, "", err
	}
	switch {
	case job.Target == "" && target == "":
		return nil, job.ID, fmt.Errorf("%w: job %s names no target and none was given", ErrNoTarget, job.ID)
	case job.Target == "":
		job.Target = target
	case target != "" && job.Target != target:
		return nil, job.ID, fmt.Errorf("%w: job %s is for target %q, not %q", ErrTargetMismatch, job.ID, job.Target, target)
	}
	m := nats.NewMsg(p.Subject(job.Target))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, job.ID)
	return m, job.ID, nil
}

func ackOf(id, subject string, pa *jetstream.PubAck) *Ack {
	return &Ack{JobID: id, Subject: subject, Stream: pa.Stream, Sequence: pa.Sequence, Duplicate: pa.Duplicate}
}
