package worker

import (
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// A paused target (dispatcher pause, the fleet's pauses bucket) is a state
// of its lane: while it lasts nothing is attempted, dead-lettered or
// counted against any bound — not an attempt, not a delivery towards
// maxDeliveries, not the retry budget, not a breaker. A delivery of the
// target is parked instead (schemas.ParkPaused): a scheduled copy due when
// the pause ends, and acked. The intake parks what it fetches without
// offering it to the lane; what was already in the lane when the pause
// began — waiting for a slot, or for a retry made in place — is parked by
// admit (or mayCall) when its turn comes; calls in flight finish.
//
// A pause parks whatever else waits in the partition, unlike a busy lane
// (park.go): holding a paused target's deliveries in memory would fill the
// partition's budget for as long as the pause lasts, and a pause may last
// hours. A parked copy holds nothing and survives restarts.
//
// When the pause has an end, a copy is due then. Without one (until
// resumed), or when the end is far, a copy is due after as long as the
// pause has lasted — at least minPauseDelay, at most maxParkDelay — so a
// job is parked at most once per such interval, the intervals doubling:
// after a resume the parked jobs come back within that interval (at most
// 5 minutes), and the jobs still in the stream at once.
//
// On a resume (or at the end) the lane ramps up: its slots start at a
// sixteenth of its limit (at least one) and double every rampStep, so that
// a backlog does not slam a target that was just brought back.

// Pause is a pause of a target, as the fleet's pauses bucket holds it.
type Pause struct {
	// Until is when the pause ends; zero: when it is resumed.
	Until time.Time
	// Since is when the pause began: the intervals of an open pause's
	// parks grow with its age. Zero means now.
	Since time.Time
}

// Bounds of the delay of a copy parked by a pause without an end (or with
// a far one): as long as the pause has lasted, within them.
const minPauseDelay = 10 * time.Second

// rampStep is how often the slots of a lane ramping up double.
const rampStep = time.Second

// pauseState is a lane's pause; under lane.mu.
type pauseState struct {
	on    bool
	until time.Time // zero: until resumed
	since time.Time
	gen   int // which pause the timer ending it belongs to
}

// pausedLocked reports whether the lane is paused at now.
func (l *lane) pausedLocked(now time.Time) bool {
	return l.paused.on && (l.paused.until.IsZero() || now.Before(l.paused.until))
}

// slots is how many slots the lane runs now: its limit, or less while it
// ramps up after a pause.
func (l *lane) slots() int {
	if l.ramp > 0 {
		return min(l.limit, l.ramp)
	}
	return l.limit
}

// pause pauses the lane with p. It reports whether the lane was not paused
// before (began), and whether p ended a pause (a pause whose end has
// passed resumes the lane).
func (l *lane) pause(p Pause) (began, ended bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !p.Until.IsZero() && !now.Before(p.Until) {
		if !l.paused.on {
			return false, false
		}
		l.resumeLocked()
		return false, true
	}
	began = !l.pausedLocked(now)
	if p.Since.IsZero() || p.Since.After(now) {
		p.Since = now
	}
	l.paused = pauseState{on: true, until: p.Until, since: p.Since, gen: l.paused.gen + 1}
	l.pauseOn.Store(true)
	l.ramp = 0
	if l.rampTimer != nil {
		l.rampTimer.Stop()
	}
	if l.pauseTimer != nil {
		l.pauseTimer.Stop()
	}
	if !p.Until.IsZero() {
		gen := l.paused.gen
		l.pauseTimer = time.AfterFunc(p.Until.Sub(now), func() { l.pauseEnded(gen) })
	}
	return began, false
}

// pauseEnded ends pause gen at its end, unless it was replaced or ended.
func (l *lane) pauseEnded(gen int) {
	l.mu.Lock()
	if l.closed || !l.paused.on || l.paused.gen != gen {
		l.mu.Unlock()
		return
	}
	l.resumeLocked()
	l.mu.Unlock()
	if l.onResume != nil {
		l.onResume()
	}
}

// resume ends the lane's pause; it reports whether there was one.
func (l *lane) resume() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.paused.on {
		return false
	}
	l.resumeLocked()
	return true
}

// resumeLocked ends the pause and starts the ramp.
func (l *lane) resumeLocked() {
	if l.pauseTimer != nil {
		l.pauseTimer.Stop()
	}
	l.paused = pauseState{gen: l.paused.gen}
	l.pauseOn.Store(false)
	if l.closed {
		return
	}
	l.ramp = rampFirst(l.limit)
	if l.ramp >= l.limit {
		l.ramp = 0
		return
	}
	if l.rampTimer == nil {
		l.rampTimer = time.AfterFunc(l.rampStep, l.rampTick)
		return
	}
	l.rampTimer.Reset(l.rampStep)
}

// rampFirst is how many slots a lane of limit slots runs when it resumes:
// a sixteenth of them, at least one.
func rampFirst(limit int) int { return max(1, limit/16) }

// rampTick doubles the slots of a lane ramping up.
func (l *lane) rampTick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.ramp == 0 {
		return
	}
	l.ramp *= 2
	if l.ramp >= l.limit {
		l.ramp = 0
	} else {
		l.rampTimer.Reset(l.rampStep)
	}
	l.fillLocked()
}

// pauseDue returns when a copy of a delivery parked now by the lane's
// pause is due, or false when the lane is not paused.
func (l *lane) pauseDue(now time.Time) (time.Time, bool) {
	if !l.pauseOn.Load() {
		return time.Time{}, false // the hot path: no lock
	}
	l.mu.Lock()
	p, on := l.paused, l.pausedLocked(now)
	l.mu.Unlock()
	if !on {
		return time.Time{}, false
	}
	d := min(max(now.Sub(p.since), minPauseDelay), maxParkDelay)
	if !p.until.IsZero() {
		d = min(d, p.until.Sub(now))
	}
	d += rand.N(d/10 + 1)
	return now.Add(d), true
}

// pauseNow returns the lane's pause, and whether it is paused at now.
func (l *lane) pauseNow(now time.Time) (Pause, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.pausedLocked(now) {
		return Pause{}, false
	}
	return Pause{Until: l.paused.until, Since: l.paused.since}, true
}

// Pause pauses the target (docs/contract.md 1.4, "Paused targets") until
// p.Until, or until Resume when that is zero: from now on nothing is
// attempted, and every delivery of the target is parked until the pause
// ends; calls in flight finish. Pausing a paused target replaces its pause;
// a pause whose Until has passed does nothing. At its Until the target
// resumes by itself.
func (w *Worker) Pause(p Pause) {
	switch began, ended := w.lane.pause(p); {
	case ended:
		w.resumed()
	case began:
		w.o.obs.PauseChanged(w.t.Name, true)
		w.o.log.Warn("paused: jobs are parked until the pause ends", zap.Time("paused_until", p.Until))
	default:
		if _, on := w.lane.pauseNow(w.o.now()); on {
			w.o.log.Info("pause changed", zap.Time("paused_until", p.Until))
		}
	}
}

// Resume ends the target's pause: the jobs still in the stream flow at once,
// the lane's slots ramping up from a few to its limit over a few seconds;
// the jobs parked come back when their copies are due. It does nothing when
// the target is not paused.
func (w *Worker) Resume() {
	if w.lane.resume() {
		w.resumed()
	}
}

// resumed logs and counts the end of a pause.
func (w *Worker) resumed() {
	w.o.obs.PauseChanged(w.t.Name, false)
	w.o.log.Info("resumed: slots ramp up", zap.Int("concurrency", w.lane.limitNow()))
}

// Paused returns the target's pause, and whether it is paused now.
func (w *Worker) Paused() (Pause, bool) { return w.lane.pauseNow(w.o.now()) }

// parkPaused parks d, a delivery of a paused target, without offering it
// to the lane. A delivery that is not a copy to make as it is (delivered
// before: admit first looks for an outcome decided earlier), or whose
// target resumed meanwhile, goes to the lane.
func (w *Worker) parkPaused(d *delivery) {
	j, ok := w.parkable(d)
	if ok && w.pausedPark(j) {
		d.done()
		return
	}
	if v, _ := w.lane.offer(d, true); v == closed {
		w.handBack(d.m)
		d.done()
	}
}

// pausedPark parks j while its target is paused, and reports whether it
// did (the delivery has then ended, stored on or left to redelivery).
func (w *Worker) pausedPark(j *job) bool {
	at, on := w.lane.pauseDue(w.o.now())
	if !on {
		return false
	}
	if w.scheduleAndAck(j, at, schemas.ParkPaused, nil) {
		w.o.log.Debug("parked: the target is paused", zap.String("job_id", j.job.ID), zap.String("trace_id", j.state.traceID),
			zap.Time("due_at", at))
	}
	return true
}
