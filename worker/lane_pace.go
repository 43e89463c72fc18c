package worker

import "time"

// A lane's pace: how long its runs take, whether its slots are stuck, and
// so how long a delivery offered would wait (lane.go offer, park.go).

// takesLocked reports whether the lane keeps a delivery at queue position
// n: its turn, by the lane's pace, comes within takeWait, and the slots are
// not stuck (all busy for longer than laneWait with none ending). A lane
// whose runs are merely slow because the whole process is busy (a thousand
// targets at once on two cores) keeps its share of the budget instead of
// parking what every other lane would wait for as long.
func (l *lane) takesLocked(n int) bool {
	if time.Duration(n+1)*l.runEWMA/time.Duration(max(l.slots(), 1)) > takeWait {
		return false
	}
	return l.running < l.slots() || l.now().Sub(l.busySinceLocked()) <= laneWait
}

// busySinceLocked is when the busy slots last showed progress: the last run
// ended, or the slots last filled.
func (l *lane) busySinceLocked() time.Time {
	if l.fullSince.After(l.lastDone) {
		return l.fullSince
	}
	return l.lastDone
}

// waitLocked estimates how long the delivery at queue position n would
// wait for a slot: n+1 slot turns spread over limit slots, a turn taking
// the recent pace — or, when every slot is busy and none has ended for
// longer than that, at least that long (a target that stopped answering).
// "None has ended" counts from when the slots last filled: a lane idle for
// long is not stuck.
func (l *lane) waitLocked(n int) time.Duration {
	turn := l.runEWMA
	if l.running >= l.slots() {
		turn = max(turn, l.now().Sub(l.busySinceLocked()))
	}
	return time.Duration(n+1) * turn / time.Duration(max(l.slots(), 1))
}

// paced takes a slot's run that began at start into the lane's pace. A
// run while the lane is paused parked its delivery: it says nothing of the
// target's pace, only that the slot is not stuck.
func (l *lane) paced(start time.Time) {
	now := l.now()
	took := now.Sub(start)
	switch {
	case l.paused.on:
	case l.runEWMA == 0:
		l.runEWMA = took
	default:
		l.runEWMA += (took - l.runEWMA) / 8
	}
	l.lastDone = now
}
