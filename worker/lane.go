package worker

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lane is a target's intake: it holds the deliveries its puller fetched —
// at most its capacity, so that a fetch asks only for what the lane has
// room for and no delivery waits anywhere out of its sight — and runs the
// pipeline on them in at most limit slots. A slot runs one delivery after
// another and ends when nothing waits (no goroutine while idle). A
// delivery that waits is kept fresh: keep sends InProgress before its
// AckWait can run out, so a job waiting for its turn is never delivered a
// second time.
type lane struct {
	run     func(jetstream.Msg) // the pipeline
	ackWait time.Duration
	now     func() time.Time

	mu      sync.Mutex
	queue   []held // FIFO, waiting for a slot
	running int    // slots busy
	limit   int    // slots: Concurrency, or this instance's fleet quota of it
	closed  bool
	idle    sync.Cond     // signalled when running drops to 0
	roomy   chan struct{} // closed and replaced when a delivery leaves the lane
}

// held is a delivery waiting in a lane.
type held struct {
	m     jetstream.Msg
	fresh time.Time // when its AckWait last (re)started
}

func newLane(limit int, ackWait time.Duration, now func() time.Time, run func(jetstream.Msg)) *lane {
	l := &lane{run: run, ackWait: ackWait, now: now, limit: limit, roomy: make(chan struct{})}
	l.idle.L = &l.mu
	return l
}

// capacity is how many deliveries a lane of limit slots holds, running and
// waiting: four per slot (at least 16). Measured in the drain benchmark (64
// slots): one per slot stalled the consumer now and then; four ran at
// 1.07x the naive consumer's jobs/s with 5% less CPU per job.
func capacity(limit int) int { return max(4*limit, 16) }

// room returns how many deliveries the lane can take now, and a channel
// closed when that may have grown. With several pullers the lane may take
// up to one fetch more per puller.
func (l *lane) room() (int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return capacity(l.limit) - l.running - len(l.queue), l.roomy
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
		close(l.roomy)
		l.roomy = make(chan struct{})
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
	close(l.roomy)
	l.roomy = make(chan struct{})
	l.mu.Unlock()
	for _, h := range start {
		go l.slot(h)
	}
}

// keep restarts the AckWait of every waiting delivery that has waited a
// third of it: called periodically (keepEvery).
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

// limitNow returns the number of slots.
func (l *lane) limitNow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// stats returns the slots busy and the deliveries waiting.
func (l *lane) stats() (running, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running, len(l.queue)
}

// keepEvery is how often waiting deliveries are looked at: a sixth of
// AckWait, so each is refreshed between a third and a half of it.
func keepEvery(ackWait time.Duration) time.Duration {
	return max(ackWait/6, 100*time.Millisecond)
}

// inProgress restarts a delivery's AckWait; a failure changes nothing (the
// worst case is a redelivery, which admit recognises).
func inProgress(m jetstream.Msg) { _ = m.InProgress() }
