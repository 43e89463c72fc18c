package worker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fetched is the part of a batch fetched and not yet routed, in order, with
// how many of it each target has: a delivery that would wait long for its
// lane is parked when another target's jobs are among them (othersWaiting).
// It is the pull loop's own.
type fetched struct {
	q      []fetchedMsg
	counts map[string]int
	msgs   <-chan jetstream.Msg // the batch's channel
	open   bool                 // msgs not closed yet
	target func(subject string) (string, bool)
	hold   func(jetstream.Msg) *delivery
}

type fetchedMsg struct {
	d      *delivery
	target string
	ok     bool
}

// others reports whether a target other than target has deliveries in the
// batch, arrived so far (taken in first, without waiting).
func (f *fetched) others(target string) bool {
	f.arrived()
	return len(f.q) > f.counts[target]
}

// take appends m to the queue, held from now on: kept fresh while it waits
// behind a route that waits for its lane.
func (f *fetched) take(m jetstream.Msg) {
	t, ok := f.target(m.Subject())
	f.q = append(f.q, fetchedMsg{d: f.hold(m), target: t, ok: ok})
	f.counts[t]++
}

// arrived takes in whatever more of the batch has arrived, without
// waiting. A route waiting for a lane asks again and again: deliveries
// that arrive meanwhile count (the server's pending count no longer does).
func (f *fetched) arrived() {
	for f.open {
		select {
		case m, ok := <-f.msgs:
			if !ok {
				f.open = false
				return
			}
			f.take(m)
		default:
			return
		}
	}
}

// drain routes the deliveries of a batch in order. Before each, it takes in
// whatever more of the batch has arrived, so that it knows which targets'
// deliveries are behind the one it routes.
func (in *Intake) drain(ctx context.Context, msgs <-chan jetstream.Msg, wait *time.Timer) {
	f := &in.batch
	clear(f.counts)
	f.q, f.msgs, f.open, f.target, f.hold = f.q[:0], msgs, true, in.cfg.Target, in.hold
	defer func() { f.msgs = nil }()
	for {
		f.arrived()
		if len(f.q) == 0 {
			if !f.open {
				return
			}
			m, ok := <-msgs
			if !ok {
				return
			}
			f.take(m)
			continue
		}
		next := f.q[0]
		f.q[0] = fetchedMsg{}
		f.q = f.q[1:]
		if f.counts[next.target]--; f.counts[next.target] == 0 {
			delete(f.counts, next.target)
		}
		in.route(ctx, next.d, next.target, next.ok, wait)
	}
}
