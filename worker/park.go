package worker

import (
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Parking carries a delivery whose turn is far — its lane's slots busy for
// longer than laneWait — to a scheduled copy due when a slot is expected,
// and acks it, so that it holds up neither its partition nor the other
// targets there. It is not an attempt. The copy is due at the lane's next
// free turn (its horizon: the back of the queue, then one turn per
// delivery parked), and at least minPark(parks) from now: a job parked
// again waits longer each time, never in a loop.

// parkBusy parks d, whose turn in w's lane is too far.
func (w *Worker) parkBusy(d *delivery) {
	j, ok := w.parkable(d)
	if !ok {
		// Not a copy to make as it is (unreadable, or delivered before):
		// admit deals with it, in the lane.
		if v, _ := w.lane.offer(d, true); v == closed {
			w.handBack(d.m)
			d.done()
		}
		return
	}
	defer d.done()
	at := w.lane.reserve(w.o.now(), j.state.parks)
	j.state.parks++
	if w.scheduleAndAck(j, at, schemas.ParkBusy, nil) {
		w.o.log.Debug("parked: the target's turn is far", zap.String("job_id", j.job.ID), zap.String("trace_id", j.state.traceID),
			zap.Int("parks", j.state.parks), zap.Time("due_at", at))
	}
}

// parkable returns d's job as a scheduled copy carries it: its
// key, trusted state and decoded body (newJob). A redelivered message is not
// parkable: an earlier delivery may have decided its outcome (settle.go).
func (w *Worker) parkable(d *delivery) (*job, bool) {
	meta := d.meta
	if meta == nil || meta.NumDelivered > 1 {
		return nil, false
	}
	data := d.m.Data()
	if len(data)+carriedHeaderBytes(d.m.Headers()) > w.sec.MaxJobBytes {
		return nil, false
	}
	jb, err := schemas.DecodeJob(data)
	if err != nil {
		return nil, false
	}
	j, _ := w.newJob(d)
	j.job = jb
	return j, true
}

// Park delays: at least minPark, doubling with each park of the same job,
// at most maxPark.
const (
	minParkDelay = time.Second
	maxParkDelay = 5 * time.Minute
)

// minPark is the least a job parked parks times before waits.
func minPark(parks int) time.Duration {
	return min(minParkDelay<<min(parks, 16), maxParkDelay)
}

// reserve returns when a delivery parked now, after parks earlier parks of
// its job, is due: the lane's next free turn, within [minPark, maxPark]
// from now, spread by a tenth. Turns come at the lane's measured pace, or,
// before a run was measured, as if every run took the target's total
// timeout (at most a second): parked jobs come back no faster than the
// lane can take them, and one that finds the lane still busy is parked
// again for later still.
func (l *lane) reserve(now time.Time, parks int) time.Time {
	l.mu.Lock()
	turn := l.waitLocked(0)
	if l.runEWMA == 0 {
		turn = max(turn, min(l.runMax, time.Second)/time.Duration(max(l.slots(), 1)))
	}
	back := now.Add(max(l.waitLocked(len(l.queue)), time.Duration(len(l.queue)+1)*turn))
	if l.horizon.Before(back) {
		l.horizon = back
	}
	at := l.horizon
	l.horizon = l.horizon.Add(turn)
	l.mu.Unlock()
	d := min(max(at.Sub(now), minPark(parks)), maxParkDelay)
	d += rand.N(d/10 + 1)
	return now.Add(d)
}
