package worker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fetched is the part of a batch fetched and not yet routed, in order, with
// how many of it each target has: a delivery that would wait long for its
// lane is parked when another target's jobs are among them (othersWaiting).
type fetched struct {
	q      []fetchedMsg
	counts map[string]int
}

type fetchedMsg struct {
	m      jetstream.Msg
	target string
	ok     bool
}

// others reports whether a target other than target has deliveries in f.
func (f *fetched) others(target string) bool { return len(f.q) > f.counts[target] }

// drain routes the deliveries of a batch in order. Before each, it takes in
// whatever more of the batch has arrived, without waiting, so that it knows
// which targets' deliveries are behind the one it routes.
func (in *Intake) drain(ctx context.Context, msgs <-chan jetstream.Msg, wait *time.Timer) {
	f := &in.batch
	clear(f.counts)
	f.q = f.q[:0]
	take := func(m jetstream.Msg) {
		t, ok := in.cfg.Target(m.Subject())
		f.q = append(f.q, fetchedMsg{m: m, target: t, ok: ok})
		f.counts[t]++
	}
	open := true
	for {
		for more := open; more; {
			select {
			case m, ok := <-msgs:
				if !ok {
					open, more = false, false
					break
				}
				take(m)
			default:
				more = false
			}
		}
		if len(f.q) == 0 {
			if !open {
				return
			}
			m, ok := <-msgs
			if !ok {
				return
			}
			take(m)
			continue
		}
		next := f.q[0]
		f.q[0] = fetchedMsg{}
		f.q = f.q[1:]
		if f.counts[next.target]--; f.counts[next.target] == 0 {
			delete(f.counts, next.target)
		}
		in.route(ctx, next.m, next.target, next.ok, wait)
	}
}
