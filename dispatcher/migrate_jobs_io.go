package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// How a migration reads streams by sequence and publishes in batches.

const (
	// readChunk sequences are read by one request after another; up to
	// readAhead chunks are read at once, and handed on in order.
	readChunk = 64
	readAhead = 8
	// batchSize publishes are in flight at once; their acks are awaited
	// (at most batchAckWait) before the next batch.
	batchSize    = 256
	batchAckWait = 30 * time.Second
	// getTimeout bounds one read.
	getTimeout = 10 * time.Second
)

// apiPrefix is the JetStream API prefix of m's handle.
func (m *JobsMigration) apiPrefix() string {
	o := m.js.Options()
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	}
	return jetstream.DefaultAPIPrefix
}

// getMsg reads the first message of stream at or after seq on a subject
// matching filter; nil when there is none. It asks the stream's leader
// (not a direct get, which a replica that lags may answer), so that a
// message stored is never missed.
func (m *JobsMigration) getMsg(ctx context.Context, stream string, seq uint64, filter string) (*jetstream.RawStreamMsg, error) {
	req, err := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj,omitempty"`
	}{seq, filter})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, getTimeout)
	defer cancel()
	resp, err := m.nc.RequestWithContext(rctx, m.apiPrefix()+"STREAM.MSG.GET."+stream, req)
	if err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", stream, seq, err)
	}
	var r struct {
		Error   *jetstream.APIError `json:"error"`
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Hdrs    []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", stream, seq, err)
	}
	if r.Error != nil {
		if r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s at %d: %w", stream, seq, r.Error)
	}
	if r.Message == nil {
		return nil, fmt.Errorf("read %s at %d: %w", stream, seq, jetstream.ErrInvalidJetStreamResponse)
	}
	out := &jetstream.RawStreamMsg{Subject: r.Message.Subject, Sequence: r.Message.Seq, Data: r.Message.Data, Time: r.Message.Time, Header: nats.Header{}}
	if len(r.Message.Hdrs) > 0 {
		if out.Header, err = nats.DecodeHeadersMsg(r.Message.Hdrs); err != nil {
			return nil, fmt.Errorf("read %s at %d: headers: %w", stream, seq, err)
		}
	}
	return out, nil
}

// readAll calls fn for each message of stream on a subject matching
// filter, in sequence order, up to the last stored when it begins.
func (m *JobsMigration) readAll(ctx context.Context, stream, filter string, fn func(*jetstream.RawStreamMsg) error) error {
	si, err := m.streamInfo(ctx, stream)
	if err != nil || si == nil {
		return errors.Join(err, fmt.Errorf("stream %s: %w", stream, jetstream.ErrStreamNotFound))
	}
	return m.readRange(ctx, stream, filter, si.State.FirstSeq, si.State.LastSeq, fn)
}

// readGrowing is readAll until a pass finds nothing new: a stream whose
// retry copies fire while it is read gets a message for each (and loses
// the copy, maybe already read).
func (m *JobsMigration) readGrowing(ctx context.Context, stream, filter string, fn func(*jetstream.RawStreamMsg) error) error {
	from := uint64(1)
	for {
		si, err := m.streamInfo(ctx, stream)
		if err != nil || si == nil {
			return errors.Join(err, fmt.Errorf("stream %s: %w", stream, jetstream.ErrStreamNotFound))
		}
		last := si.State.LastSeq
		from = max(from, si.State.FirstSeq)
		if from > last {
			return nil
		}
		if err := m.readRange(ctx, stream, filter, from, last, fn); err != nil {
			return err
		}
		from = last + 1
	}
}

// readRange calls fn, from this goroutine and in sequence order, for each
// message of stream with from <= seq <= to on a subject matching filter.
// It reads readAhead chunks at once and waits for them all before it
// returns.
func (m *JobsMigration) readRange(ctx context.Context, stream, filter string, from, to uint64, fn func(*jetstream.RawStreamMsg) error) error {
	from = max(from, 1)
	if from > to {
		return nil
	}
	type chunk struct {
		msgs []*jetstream.RawStreamMsg
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	queue := make(chan chan chunk, readAhead)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(queue)
		for a := from; a <= to; a += readChunk {
			b := min(a+readChunk-1, to)
			out := make(chan chunk, 1)
			select {
			case queue <- out:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(a, b uint64) {
				defer wg.Done()
				var c chunk
				for seq := a; seq <= b; {
					msg, err := m.getMsg(ctx, stream, seq, filter)
					if err != nil {
						c.err = err
						break
					}
					if msg == nil || msg.Sequence > b {
						break
					}
					c.msgs = append(c.msgs, msg)
					seq = msg.Sequence + 1
				}
				out <- c
			}(a, b)
			if b == to {
				return
			}
		}
	}()
	for out := range queue {
		c := <-out
		if c.err != nil {
			return c.err
		}
		for _, msg := range c.msgs {
			if err := fn(msg); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// batchItem is one publish of a batch.
type batchItem struct {
	msg *nats.Msg
	// seq is where the message comes from: the old stream's sequence
	// (copy) or the holding stream's (publish again).
	seq  uint64
	opts []jetstream.PublishOpt
}

// batch publishes items asynchronously, batchSize at a time, and hands
// each ack or error to result in order; then flushed runs (where the
// migration notes its progress). skip, when set, drops an item before
// it is published (it is there already).
type batch struct {
	m          *JobsMigration
	items      []*batchItem
	crashPoint string
	sent       int
	prepare    func(ctx context.Context) error
	skip       func(*batchItem) bool
	result     func(*batchItem, *jetstream.PubAck, error) error
	flushed    func(last *batchItem) error
}

// add queues it and publishes the batch once it is full.
func (b *batch) add(ctx context.Context, it *batchItem) error {
	b.items = append(b.items, it)
	if len(b.items) >= batchSize {
		return b.flush(ctx)
	}
	return nil
}

// flush publishes what is queued and waits for the acks.
func (b *batch) flush(ctx context.Context) error {
	items := b.items
	b.items = nil
	if len(items) == 0 {
		return nil
	}
	if b.prepare != nil {
		if err := b.prepare(ctx); err != nil {
			return err
		}
	}
	type sent struct {
		it  *batchItem
		fut jetstream.PubAckFuture
	}
	futs := make([]sent, 0, len(items))
	for _, it := range items {
		if b.skip != nil && b.skip(it) {
			continue
		}
		fut, err := b.m.js.PublishMsgAsync(it.msg, append(it.opts, jetstream.WithStallWait(batchAckWait))...)
		if err != nil {
			return fmt.Errorf("publish on %s: %w", it.msg.Subject, err)
		}
		futs = append(futs, sent{it, fut})
		b.sent++
		migrateCrash(b.crashPoint, b.sent)
	}
	timeout := time.NewTimer(batchAckWait)
	defer timeout.Stop()
	for _, s := range futs {
		var err error
		select {
		case ack := <-s.fut.Ok():
			err = b.result(s.it, ack, nil)
		case perr := <-s.fut.Err():
			err = b.result(s.it, nil, perr)
		case <-timeout.C:
			return fmt.Errorf("no ack for the publish on %s within %s", s.it.msg.Subject, batchAckWait)
		case <-ctx.Done():
			return ctx.Err()
		}
		if err != nil {
			return err
		}
	}
	if b.flushed != nil {
		return b.flushed(items[len(items)-1])
	}
	return nil
}

// presence is what a stream holds already, by key (a message id, a
// subject), read from a sequence on.
type presence struct {
	m      *JobsMigration
	stream string
	keys   func(*jetstream.RawStreamMsg) []string
	next   uint64
	at     time.Time
	seen   map[string]bool
}

// presenceRefresh is how often presence reads what was stored since: a
// publish of the same id within the duplicate window (2 minutes for the
// jobs stream) is dropped by the server anyway.
const presenceRefresh = time.Minute

// refresh reads what the stream stored since the last read; unless force,
// only once presenceRefresh has passed.
func (p *presence) refresh(ctx context.Context, force bool) error {
	if !force && time.Since(p.at) < presenceRefresh {
		return nil
	}
	si, err := p.m.streamInfo(ctx, p.stream)
	if err != nil || si == nil {
		return errors.Join(err, fmt.Errorf("stream %s: %w", p.stream, jetstream.ErrStreamNotFound))
	}
	p.at = time.Now()
	last := si.State.LastSeq
	err = p.m.readRange(ctx, p.stream, ">", max(p.next, si.State.FirstSeq), last, func(msg *jetstream.RawStreamMsg) error {
		for _, k := range p.keys(msg) {
			if k != "" {
				p.seen[k] = true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.next = max(p.next, last+1)
	return nil
}
