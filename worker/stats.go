package worker

import (
	"sync/atomic"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Stats is what a worker has done since it started, and what it holds now:
// the samples a target's health is judged on (dispatcher/verdict). The
// counters only grow; two readings make a rate.
type Stats struct {
	// Deliveries counts the deliveries the partitions' intakes handed the
	// worker (taken by its lane or parked), Redeliveries those of them
	// delivered more than once.
	Deliveries   uint64
	Redeliveries uint64
	// Outcomes counts the jobs that reached an outcome: delivered,
	// dead-lettered or fallback (a retry scheduled or a park is none).
	Outcomes uint64
	// Retries counts the retries scheduled (in place too), Parks the jobs
	// scheduled back without an attempt (busy lane, hold, budget).
	Retries uint64
	Parks   uint64
	// Calls counts the HTTP calls made, CallsDone those that ended.
	Calls     uint64
	CallsDone uint64
	// RateWaits counts the calls that waited for the rate limiter.
	RateWaits uint64
	// LastErrorClass is the error class of the last call that failed (""
	// before any).
	LastErrorClass string
	// InFlight is the HTTP calls in flight now; Buffered the deliveries
	// the lane holds that are not in a call: waiting for a slot, a
	// rate-limit token, a probe's outcome, a hold's end or a retry made in
	// place.
	InFlight int
	Buffered int
}

// counters are the atomics behind Stats.
type counters struct {
	deliveries, redeliveries, outcomes, retries, parks atomic.Uint64
	calls, callsDone, rateWaits                        atomic.Uint64
	inFlight                                           atomic.Int64
	lastClass                                          atomic.Pointer[string]
}

// Stats returns what the worker has done and holds now. It is cheap: a few
// atomic loads and the lane's lock.
func (w *Worker) Stats() Stats {
	c := &w.counts
	s := Stats{
		Deliveries: c.deliveries.Load(), Redeliveries: c.redeliveries.Load(), Outcomes: c.outcomes.Load(),
		Retries: c.retries.Load(), Parks: c.parks.Load(), Calls: c.calls.Load(), CallsDone: c.callsDone.Load(),
		RateWaits: c.rateWaits.Load(), InFlight: int(max(c.inFlight.Load(), 0)),
	}
	if p := c.lastClass.Load(); p != nil {
		s.LastErrorClass = *p
	}
	running, waiting := w.lane.stats()
	s.Buffered = max(running+waiting-s.InFlight, 0)
	return s
}

// delivered counts a delivery handed to the worker.
func (c *counters) delivered(redelivered bool) {
	c.deliveries.Add(1)
	if redelivered {
		c.redeliveries.Add(1)
	}
}

// countingObserver counts a worker's events into its counters and passes
// them on.
type countingObserver struct {
	Observer
	c *counters
}

var _ Observer = countingObserver{}

func (o countingObserver) AttemptStarted(target, endpoint string) {
	o.c.calls.Add(1)
	o.c.inFlight.Add(1)
	o.Observer.AttemptStarted(target, endpoint)
}

func (o countingObserver) AttemptDone(target, endpoint string, status int, class string, took time.Duration) {
	o.c.inFlight.Add(-1)
	o.c.callsDone.Add(1)
	if class != "" {
		o.c.lastClass.Store(&class)
	}
	o.Observer.AttemptDone(target, endpoint, status, class, took)
}

func (o countingObserver) JobEnded(target, outcome, reason string) {
	o.c.outcomes.Add(1)
	o.Observer.JobEnded(target, outcome, reason)
}

func (o countingObserver) RetryScheduled(target, class string, delay time.Duration) {
	o.c.retries.Add(1)
	o.Observer.RetryScheduled(target, class, delay)
}

func (o countingObserver) Parked(target, reason string) {
	o.c.parks.Add(1)
	o.Observer.Parked(target, reason)
}

// BreakerStatus is the state of one endpoint's breaker as the worker acts
// on it.
type BreakerStatus struct {
	// Endpoint is the display form (schemas.DisplayEndpoint).
	Endpoint string
	// State is open while this instance's breaker is open or another
	// instance's open breaker keeps it away; else the local breaker's.
	State schemas.BreakerState
	// Until is when another instance's open breaker stops keeping this
	// instance away (zero: none).
	Until time.Time
}

// Breakers returns the state of every endpoint's breaker, in the order of
// the endpoints.
func (w *Worker) Breakers() []BreakerStatus {
	now := w.o.now()
	out := make([]BreakerStatus, len(w.breakers))
	for i, b := range w.breakers {
		out[i] = BreakerStatus{Endpoint: b.shown, State: b.stateName(now)}
		if open, u := b.fleetOpen(now.UnixNano()); open {
			out[i].Until = time.Unix(0, u)
		}
	}
	return out
}

// HeldUntil returns when the target's hold ends (when_open: hold, every
// breaker open), and whether it holds at now.
func (w *Worker) HeldUntil() (time.Time, bool) {
	u := w.heldUntil.Load()
	if u == 0 || u <= w.o.now().UnixNano() {
		return time.Time{}, false
	}
	return time.Unix(0, u), true
}
