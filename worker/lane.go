package worker

import (
	"container/heap"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lane is a target's intake: it holds the deliveries its pullers fetched —
// at most its capacity, so that a fetch asks only for what the lane has
// room for and no delivery waits anywhere out of its sight — and runs the
// pipeline on them in at most limit slots. A slot runs one delivery after
// another and ends when nothing waits (no goroutine while idle). A
// delivery may also wait for a time (a retry due within a second, made in
// place: delay) without a slot. Every delivery that waits is kept fresh:
// keep sends InProgress before its AckWait can run out, so a job waiting
// for its turn is never delivered a second time.
type lane struct {
	run     func(jetstream.Msg, *job) // the pipeline; the job when resumed
	ackWait time.Duration
	now     func() time.Time

	mu      sync.Mutex
	queue   []held      // FIFO, waiting for a slot
	later   laterHeap   // waiting for a time
	timer   *time.Timer // fires at later's earliest
	running int         // slots busy
	limit   int         // slots: Concurrency, or this instance's fleet quota of it
	closed  bool
	idle    sync.Cond     // signalled when running drops to 0
	roomy   chan struct{} // closed and replaced when a delivery leaves the lane
}

// held is a delivery waiting in a lane.
type held struct {
	m     jetstream.Msg
	j     *job      // the job in hand, when it waits to be resumed (delay)
	at    time.Time // when a delayed delivery is due
	fresh time.Time // when its AckWait last (re)started
}

func newLane(limit int, ackWait time.Duration, now func() time.Time, run func(jetstream.Msg, *job)) *lane {
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
// up to one fetch more per puller. Deliveries delayed in place do not
// count: they wait for their time, not for a slot, and are few (retries
// due within a second).
func (l *lane) room() (int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return capacity(l.limit) - l.running - len(l.queue), l.roomy
}

// offer takes a delivery in. It returns false when the lane is closed (the
// caller hands the delivery back).
func (l *lane) offer(m jetstream.Msg) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.startLocked(held{m: m, fresh: l.now()})
	return true
}

// startLocked runs h in a free slot, or queues it.
func (l *lane) startLocked(h held) {
	if l.running < l.limit {
		l.running++
		go l.slot(h)
		return
	}
	l.queue = append(l.queue, h)
}

// delay keeps j's delivery waiting until at, without a slot, then runs the
// pipeline on j again. It returns false when the lane is closed (the caller
// carries the job on another way).
func (l *lane) delay(j *job, at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	heap.Push(&l.later, held{m: j.m, j: j, at: at, fresh: l.now()})
	l.armLocked()
	return true
}

// armLocked sets the timer for the earliest delayed delivery.
func (l *lane) armLocked() {
	if len(l.later) == 0 {
		return
	}
	d := max(l.later[0].at.Sub(l.now()), 0)
	if l.timer == nil {
		l.timer = time.AfterFunc(d, l.due)
		return
	}
	l.timer.Reset(d)
}

// due starts the delayed deliveries whose time came.
func (l *lane) due() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	now := l.now()
	for len(l.later) > 0 && !l.later[0].at.After(now) {
		l.startLocked(heap.Pop(&l.later).(held))
	}
	l.armLocked()
}

// slot runs the pipeline on h, then on whatever waits, while the lane's
// limit allows this slot.
func (l *lane) slot(h held) {
	for {
		if l.now().Sub(h.fresh) > l.ackWait/3 {
			inProgress(h.m)
		}
		l.run(h.m, h.j)
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
	defer l.mu.Unlock()
	l.limit = n
	for l.running < l.limit && len(l.queue) > 0 {
		h := l.queue[0]
		l.queue[0] = held{}
		l.queue = l.queue[1:]
		l.startLocked(h)
	}
	close(l.roomy)
	l.roomy = make(chan struct{})
}

// keep restarts the AckWait of every waiting delivery that has waited a
// third of it: called periodically (keepEvery).
func (l *lane) keep() {
	now := l.now()
	var due []jetstream.Msg
	l.mu.Lock()
	for _, hs := range [][]held{l.queue, l.later} {
		for i := range hs {
			if now.Sub(hs[i].fresh) >= l.ackWait/3 {
				hs[i].fresh = now
				due = append(due, hs[i].m)
			}
		}
	}
	l.mu.Unlock()
	for _, m := range due {
		inProgress(m)
	}
}

// close stops taking deliveries and returns those that wait for a slot and
// those delayed (with their job and time); busy slots finish the delivery
// they hold.
func (l *lane) close() (waiting []jetstream.Msg, delayed []held) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	for _, h := range l.queue {
		waiting = append(waiting, h.m)
	}
	delayed = l.later
	l.queue, l.later = nil, nil
	return waiting, delayed
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

// stats returns the slots busy and the deliveries waiting (for a slot or a
// time).
func (l *lane) stats() (running, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running, len(l.queue) + len(l.later)
}

// keepEvery is how often waiting deliveries are looked at: a sixth of
// AckWait, so each is refreshed between a third and a half of it.
func keepEvery(ackWait time.Duration) time.Duration {
	return max(ackWait/6, 100*time.Millisecond)
}

// inProgress restarts a delivery's AckWait; a failure changes nothing (the
// worst case is a redelivery, which admit recognises).
func inProgress(m jetstream.Msg) { _ = m.InProgress() }

// laterHeap orders delayed deliveries by when they are due.
type laterHeap []held

func (h laterHeap) Len() int           { return len(h) }
func (h laterHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h laterHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *laterHeap) Push(x any)        { *h = append(*h, x.(held)) }
func (h *laterHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = held{}
	*h = old[:len(old)-1]
	return x
}
