package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Filter selects audit records. The zero value selects every one.
type Filter struct {
	// Since, when set, skips records stored before it.
	Since time.Time
	// Actions, when not empty, are the actions listed.
	Actions []string
	// Limit, when above 0, keeps the newest Limit records.
	Limit int
}

// Entry is an audit record as stored: its sequence in the audit stream and
// the record. A record that does not decode has Err set and Record empty.
type Entry struct {
	Seq    uint64
	Record schemas.AuditRecord
	Err    error
}

// List reads the audit records f selects, oldest first, with an ordered
// consumer: nothing is consumed or changed. Without an audit stream it
// returns none.
func List(ctx context.Context, js jetstream.JetStream, t schemas.Topology, f Filter) ([]Entry, error) {
	st, err := js.Stream(ctx, t.AuditStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", t.AuditStream(), err)
	}
	info := st.CachedInfo()
	end := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cfg := jetstream.OrderedConsumerConfig{InactiveThreshold: 30 * time.Second, DeliverPolicy: jetstream.DeliverAllPolicy}
	for _, a := range f.Actions {
		cfg.FilterSubjects = append(cfg.FilterSubjects, t.AuditSubject(a))
	}
	if !f.Since.IsZero() {
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.AuditStream(), err)
	}
	if ci := cons.CachedInfo(); ci == nil || ci.NumPending == 0 {
		return nil, nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(500))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.AuditStream(), err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	var out []Entry
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			return out, fmt.Errorf("read %s: %w", t.AuditStream(), err)
		}
		md, err := m.Metadata()
		if err != nil {
			return out, fmt.Errorf("read %s: %w", t.AuditStream(), err)
		}
		if md.Sequence.Stream > end {
			break
		}
		e := Entry{Seq: md.Sequence.Stream}
		if err := json.Unmarshal(m.Data(), &e.Record); err != nil {
			e.Record, e.Err = schemas.AuditRecord{}, fmt.Errorf("record %d does not decode: %w", e.Seq, err)
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) > f.Limit {
			out = out[1:]
		}
		if md.NumPending == 0 || md.Sequence.Stream == end {
			break
		}
	}
	return out, nil
}
