package worker

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// lane is a target's intake inside the partitions: the deliveries of the
// target the partitions' intakes (intake.go) handed it, run through the
// pipeline in at most limit slots, the rest waiting in a short FIFO. A slot
// runs one delivery after another and ends when nothing waits (no goroutine
// while idle). A delivery may also wait for a time (a retry due within a
// second, made in place: delay) without a slot.
//
// A lane never holds up a partition: it takes a delivery only when its turn
// comes soon (laneWait, by the lane's recent pace); otherwise the intake
// waits a moment for a lane that is merely full and fast, or parks the
// delivery as a scheduled copy due when a slot is expected (park.go).
// Whatever waits is kept fresh by the intake that fetched it.
type lane struct {
	run func(*delivery, *job) bool // the pipeline; true when it kept the delivery (delay)
	now func() time.Time

	mu      sync.Mutex
	queue   []held      // FIFO, waiting for a slot
	later   laterHeap   // waiting for a time
	timer   *time.Timer // fires at later's earliest
	running int         // slots busy
	limit   int         // slots: Concurrency, or this instance's fleet quota of it
	closed  bool
	idle    sync.Cond     // signalled when running drops to 0
	roomy   chan struct{} // closed and replaced when a slot frees, if wanted
	wanted  bool

	// pace: how long a slot's run takes (an EWMA), and when one last ended
	runEWMA  time.Duration
	lastDone time.Time
	// fullSince is when every slot last became busy: with lastDone, how
	// long the slots have been busy without one ending (a lane idle for an
	// hour is not stuck the moment its slots fill).
	fullSince time.Time
	// runMax is the longest a run may take (the target's total timeout):
	// the pace parks are spread by before one was measured (park.go).
	runMax time.Duration
	// horizon is when the last delivery parked for a slot is due: the next
	// one is due a slot's time later (park.go).
	horizon time.Time

	// paused is the target's pause; ramp, when above 0, the slots run while
	// ramping up after one, doubled every rampStep (pause.go). onResume is
	// called when a pause ends by itself (at its end).
	paused     pauseState
	pauseOn    atomic.Bool // paused.on, read without the lock
	pauseTimer *time.Timer
	ramp       int
	rampStep   time.Duration
	rampTimer  *time.Timer
	onResume   func()
}

// held is a delivery waiting in a lane.
type held struct {
	d  *delivery
	j  *job      // the job in hand, when it waits to be resumed (delay)
	at time.Time // when a delayed delivery is due
}

// laneWait is how long a lane's slots may all be busy without one ending
// before the lane counts as stuck: then it keeps no more deliveries, they
// are parked. takeWait is the longest a delivery is kept waiting for a
// slot by the lane's pace: longer than that, it would hold its partition's
// budget for a slow target, and is parked instead (well within AckWait:
// what waits is kept fresh meanwhile). intakeWait is the longest an
// intake waits for a full lane to have room (a busy, fast target): the
// partition's other targets wait meanwhile.
const (
	laneWait   = 2 * time.Second
	takeWait   = 10 * time.Second
	intakeWait = 50 * time.Millisecond
)

func newLane(limit int, runMax time.Duration, now func() time.Time, run func(*delivery, *job) bool) *lane {
	l := &lane{run: run, now: now, limit: limit, runMax: runMax, roomy: make(chan struct{}), lastDone: now(), rampStep: rampStep}
	l.idle.L = &l.mu
	return l
}

// capacity is how many deliveries a lane of limit slots holds, running and
// waiting: four per slot, at least 64. Measured in the drain benchmark (64
// slots): one per slot stalled the consumer now and then; four ran at
// 1.07x the naive consumer's jobs/s with 5% less CPU per job. The floor:
// 1,000 targets of one slot each (bench targets) drained 20,000 jobs at
// 12,900 jobs/s with 64 against 3,400 with 16, whose lanes filled and
// parked their targets' later jobs for a second or more. A stuck or slow
// lane takes fewer (takesLocked), so a black-holed target holds at most
// what it took before it was found stuck.
func capacity(limit int) int { return max(4*limit, 64) }

// verdict is what a lane says to a delivery offered.
type verdict int

const (
	taken  verdict = iota // running or waiting in the lane
	full                  // full, but a slot is expected within intakeWait: wait on the channel returned, then offer again
	park                  // its turn is too far: park it (park.go), or, when it holds up no other target, wait on the channel returned
	paused                // the target is paused: park it until the pause ends (pause.go), whoever else waits
	closed                // the lane is closed: hand the delivery back
)

// offer offers d to the lane. A redelivered message (force) is taken
// whatever the lane's state, paused included: admit must first look for an
// outcome an earlier delivery decided (settle.go), and redeliveries are
// few.
func (l *lane) offer(d *delivery, force bool) (verdict, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return closed, nil
	}
	if !force && l.paused.on && l.pausedLocked(l.now()) {
		return paused, nil
	}
	if l.running < l.slots() {
		l.startLocked(held{d: d})
		return taken, nil
	}
	n := len(l.queue)
	if force || (n+l.running < capacity(l.slots()) && l.takesLocked(n)) {
		l.queue = append(l.queue, held{d: d})
		return taken, nil
	}
	l.wanted = true
	if l.waitLocked(0) <= intakeWait {
		return full, l.roomy
	}
	return park, l.roomy
}

// startLocked runs h in a free slot, or queues it.
func (l *lane) startLocked(h held) {
	if l.running < l.slots() {
		if l.running++; l.running == l.slots() {
			l.fullSince = l.now()
		}
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
	heap.Push(&l.later, held{d: j.d, j: j, at: at})
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
// limit allows this slot. A delivery the pipeline did not keep (delay) has
// ended: its intake's budget gets it back.
func (l *lane) slot(h held) {
	for {
		start := l.now()
		if !l.run(h.d, h.j) {
			h.d.done()
		}
		l.mu.Lock()
		l.paced(start)
		if len(l.queue) == 0 || l.running > l.slots() || l.closed {
			l.running--
			if l.running == 0 {
				l.idle.Broadcast()
			}
			l.signalLocked()
			l.mu.Unlock()
			return
		}
		h = l.queue[0]
		l.queue[0] = held{}
		l.queue = l.queue[1:]
		l.signalLocked()
		l.mu.Unlock()
	}
}

// signalLocked wakes an intake waiting for the lane to have room.
func (l *lane) signalLocked() {
	if l.wanted {
		close(l.roomy)
		l.roomy = make(chan struct{})
		l.wanted = false
	}
}

// setLimit changes the number of slots; raised, waiting deliveries start at
// once; lowered, busy slots finish their delivery and end.
func (l *lane) setLimit(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit = n
	l.fillLocked()
}

// fillLocked starts waiting deliveries in the slots free.
func (l *lane) fillLocked() {
	for l.running < l.slots() && len(l.queue) > 0 {
		h := l.queue[0]
		l.queue[0] = held{}
		l.queue = l.queue[1:]
		l.startLocked(h)
	}
	l.signalLocked()
}

// close stops taking deliveries and returns those that wait for a slot and
// those delayed (with their job and time); busy slots finish the delivery
// they hold.
func (l *lane) close() (waiting []*delivery, delayed []held) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, t := range []*time.Timer{l.timer, l.pauseTimer, l.rampTimer} {
		if t != nil {
			t.Stop()
		}
	}
	for _, h := range l.queue {
		waiting = append(waiting, h.d)
	}
	delayed = l.later
	l.queue, l.later = nil, nil
	l.signalLocked()
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

// LaneCapacity is how many deliveries the lane of a target of concurrency
// limit holds at most, running and waiting: what its partition's intake
// budgets for it.
func LaneCapacity(limit int) int { return capacity(limit) }
