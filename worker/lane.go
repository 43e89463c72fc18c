package worker

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lane is a target's intake: every delivery the target's consumer hands
// over is held here, never blocking the consumer, until one of the lane's
// Concurrency slots is free; a slot runs the pipeline on one delivery after
// another and ends when nothing waits (no goroutine while idle). A
// delivery that waits is kept fresh: keep sends InProgress before its
// AckWait can run out, so a job waiting for its turn is never delivered a
// second time. The consumer's MaxAckPending bounds what a lane holds.
type lane struct {
	run     func(jetstream.Msg) // the pipeline
	ackWait time.Duration
	now     func() time.Time

	mu      sync.Mutex
	queue   []held // FIFO
	running int    // slots busy
	limit   int    // slots: Concurrency, or this instance's fleet quota of it
	closed  bool
	idle    sync.Cond // signalled when running drops to 0
}

// held is a delivery waiting in a lane.
type held struct {
	m     jetstream.Msg
	fresh time.Time // when its AckWait last (re)started
}

func newLane(limit int, ackWait time.Duration, now func() time.Time, run func(jetstream.Msg)) *lane {
	l := &lane{run: run, ackWait: ackWait, now: now, limit: limit}
	l.idle.L = &l.mu
	return l
}

// offer takes a delivery in. It returns false when the lane is closed (the
// caller hands the delivery back).
func (l *lane) offer(m jetstream.Msg) bool {
	h := held{m: m, fresh: l.now()}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	if l.running < l.limit {
		l.running++
		l.mu.Unlock()
		go l.slot(h)
		return true
	}
	l.queue = append(l.queue, h)
	l.mu.Unlock()
	return true
}

// slot runs the pipeline on h, then on whatever waits, while the lane's
// limit allows this slot.
func (l *lane) slot(h held) {
	for {
		if l.now().Sub(h.fresh) > l.ackWait/3 {
			inProgress(h.m)
		}
		l.run(h.m)
		l.mu.Lock()
		if len(l.queue) == 0 || l.running > l.limit || l.closed {
			l.running--
			if l.running == 0 {
				l.idle.Broadcast()
			}
			l.mu.Unlock()
			return
		}
		h = l.queue[0]
		l.queue[0] = held{}
		l.queue = l.queue[1:]
		l.mu.Unlock()
	}
}

// setLimit changes the number of slots; raised, waiting deliveries start at
// once; lowered, busy slots finish their delivery and end.
func (l *lane) setLimit(n int) {
	l.mu.Lock()
	l.limit = n
	var start []held
	for l.running < l.limit && len(l.queue) > 0 {
		start = append(start, l.queue[0])
		l.queue[0] = held{}
		l.queue = l.queue[1:]
		l.running++
	}
	l.mu.Unlock()
	for _, h := range start {
		go l.slot(h)
	}
}

// keep restarts the AckWait of every waiting delivery that has waited a
// third of it: called periodically (every ackWait/6 or so).
func (l *lane) keep() {
	now := l.now()
	var due []jetstream.Msg
	l.mu.Lock()
	for i := range l.queue {
		if now.Sub(l.queue[i].fresh) >= l.ackWait/3 {
			l.queue[i].fresh = now
			due = append(due, l.queue[i].m)
		}
	}
	l.mu.Unlock()
	for _, m := range due {
		inProgress(m)
	}
}

// close stops taking deliveries and returns those that wait; busy slots
// finish the delivery they hold.
func (l *lane) close() []jetstream.Msg {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	out := make([]jetstream.Msg, 0, len(l.queue))
	for _, h := range l.queue {
		out = append(out, h.m)
	}
	l.queue = nil
	return out
}

// wait blocks until no slot is busy.
func (l *lane) wait() {
	l.mu.Lock()
	for l.running > 0 {
		l.idle.Wait()
	}
	l.mu.Unlock()
}

// stats returns the slots busy and the deliveries waiting.
func (l *lane) stats() (running, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running, len(l.queue)
}

// inProgress restarts a delivery's AckWait; a failure changes nothing (the
// worst case is a redelivery, which admit recognises).
func inProgress(m jetstream.Msg) { _ = m.InProgress() }
