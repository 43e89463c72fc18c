package worker

import (
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// BreakerShare is told of this instance's breaker transitions so that the
// other instances can adopt them (the service publishes them to a NATS KV
// bucket; see dispatcher/fleet.go). Share runs inside the breaker's lock:
// it must not block.
type BreakerShare interface {
	// Share reports that the breaker of target's endpoint (named by its
	// display form, schemas.DisplayEndpoint) went to state (open,
	// half_open or closed). For open and half_open, until is when the
	// others may try the endpoint again if they hear nothing more: the end
	// of the open timeout, or of the probe.
	Share(target, endpoint string, state schemas.BreakerState, until time.Time)
}

// WithBreakerShare sets who is told of this worker's breaker transitions
// (default: nobody).
func WithBreakerShare(s BreakerShare) Option {
	return func(o *options) error {
		o.share = s
		return nil
	}
}

// shareUntil is how long the fleet should keep away from an endpoint whose
// breaker went to state here.
func shareUntil(t Target, state schemas.BreakerState, now time.Time) time.Time {
	switch state {
	case schemas.BreakerOpen:
		return now.Add(t.Breaker.OpenTimeout)
	case schemas.BreakerHalfOpen:
		// One probe is out; the others wait for its outcome, at most as
		// long as a call may take.
		return now.Add(t.Timeouts.Total + time.Second)
	}
	return time.Time{}
}

// AdoptBreaker applies another instance's breaker state for endpoint (its
// display form, as Share gives it, or the URL itself): with open or
// half_open, this instance sends nothing there until until (or until a
// closed state arrives); with closed, calls go there again at once. The
// local breaker keeps its own counts. Unknown endpoints are ignored.
func (w *Worker) AdoptBreaker(endpoint string, state schemas.BreakerState, until time.Time) {
	shown := schemas.DisplayEndpoint(endpoint)
	for _, b := range w.breakers {
		if b.shown != shown {
			continue
		}
		var u int64
		if state != schemas.BreakerClosed && until.After(w.o.now()) {
			u = until.UnixNano()
		}
		if prev := b.fleetUntil.Swap(u); (prev == 0) != (u == 0) {
			if u != 0 {
				w.o.log.Warn("breaker open on another instance: endpoint avoided here too",
					zap.String("endpoint", b.host), zap.Stringer("state", state), zap.Time("until", until))
			} else {
				w.o.log.Info("breaker closed on another instance: endpoint in use again", zap.String("endpoint", b.host))
			}
			if w.wake.Load() != nil {
				w.breakersChanged()
			}
		}
	}
}

// fleetOpen reports whether another instance's open breaker keeps this
// instance away from b at now (Unix ns), and until when.
func (b *endpointBreaker) fleetOpen(now int64) (bool, int64) {
	u := b.fleetUntil.Load()
	return u != 0 && now < u, u
}

// stateName is the breaker's state as this instance acts on it: open while
// another instance's open breaker is adopted, else the local breaker's.
func (b *endpointBreaker) stateName(now time.Time) schemas.BreakerState {
	if open, _ := b.fleetOpen(now.UnixNano()); open {
		return schemas.BreakerOpen
	}
	return breakerStateName(b.cb.State())
}
