package deadletter

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// scanBatch is how many messages the ordered consumer asks for at once.
const scanBatch = 2000

// scanMsg is one message seen by scan. data is nil in a headers-only scan.
type scanMsg struct {
	seq     uint64
	time    time.Time
	subject string
	header  nats.Header
	data    []byte
}

// scan reads the messages on the filter's subjects in stream order, from
// f.MinSeq or f.Since (or the start) up to the stream's last message when the scan
// began (or f.MaxSeq), with an ordered consumer: nothing is consumed or
// changed. fn returns false to stop early.
func (s *Store) scan(ctx context.Context, f *Filter, headersOnly bool, fn func(*scanMsg) (bool, error)) error {
	st, err := s.handle(ctx)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", s.stream, err)
	}
	end := info.State.LastSeq
	if f.MaxSeq != 0 {
		end = min(end, f.MaxSeq)
	}
	if info.State.Msgs == 0 || end < info.State.FirstSeq || end < f.MinSeq {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects:    s.subjects(f),
		HeadersOnly:       headersOnly,
		InactiveThreshold: 30 * time.Second,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
	}
	// A start sequence wins over a start time; the time is then checked
	// message by message.
	switch {
	case f.MinSeq > info.State.FirstSeq:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, f.MinSeq
	case !f.Since.IsZero():
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	bySeq := cfg.DeliverPolicy == jetstream.DeliverByStartSequencePolicy
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(scanBatch))
	if err != nil {
		return fmt.Errorf("read %s: %w", s.stream, err)
	}
	defer it.Stop()
	if ci := cons.CachedInfo(); ci == nil || ci.NumPending == 0 {
		return nil // nothing on these subjects from the start point
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read %s: %w", s.stream, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", s.stream, err)
		}
		seq := md.Sequence.Stream
		if seq > end || (!f.Until.IsZero() && md.Timestamp.After(f.Until)) {
			return nil
		}
		if bySeq && !f.Since.IsZero() && md.Timestamp.Before(f.Since) {
			if md.NumPending == 0 || seq == end {
				return nil
			}
			continue
		}
		sm := &scanMsg{seq: seq, time: md.Timestamp, subject: m.Subject(), header: m.Headers()}
		if !headersOnly {
			sm.data = m.Data()
		}
		more, err := fn(sm)
		if err != nil || !more || md.NumPending == 0 || seq == end {
			return err
		}
	}
}
