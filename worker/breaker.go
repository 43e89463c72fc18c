package worker

import (
	"errors"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Outcomes handed to a breaker's done callback.
var (
	errBreakerFailure  = errors.New("failure")
	errBreakerExcluded = errors.New("excluded")
)

// endpointBreaker is the circuit breaker of one endpoint of a target.
type endpointBreaker struct {
	endpoint string // the URL called
	// shown is the endpoint's display form (schemas.DisplayEndpoint): what
	// metrics, logs, records and the fleet see of it.
	shown   string
	host    string // the endpoint's host:port, for logs
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	openFor time.Duration
	// fleetUntil is when another instance's open breaker for this endpoint
	// stops keeping this instance away (Unix ns; 0: none). AdoptBreaker sets it.
	fleetUntil atomic.Int64
}

// newBreakers builds one breaker per endpoint, with the contract's trip rule:
// consecutive failures, or a failure ratio over the window once min_requests
// were seen. 4xx answers, SSRF blocks and shutdown cancellations are excluded.
// Transitions are logged on log, which already names the target, and told
// to share, when not nil; changed, when not nil, is called after each.
func newBreakers(t Target, log *zap.Logger, obs Observer, share BreakerShare, now func() time.Time, changed func()) []*endpointBreaker {
	p := t.Breaker
	out := make([]*endpointBreaker, 0, len(t.Endpoints))
	for _, ep := range t.Endpoints {
		shown := schemas.DisplayEndpoint(ep)
		st := gobreaker.Settings{
			Name:         t.Name + " " + shown,
			MaxRequests:  uint32(p.HalfOpenRequests),
			Interval:     p.Window,
			Timeout:      p.OpenTimeout,
			ReadyToTrip:  func(c gobreaker.Counts) bool { return tripped(p, c) },
			IsSuccessful: func(err error) bool { return err == nil },
			IsExcluded:   func(err error) bool { return errors.Is(err, errBreakerExcluded) },
		}
		if p.Window >= 10*time.Second {
			st.BucketPeriod = p.Window / 10 // a rolling window rather than a fixed one
		}
		st.OnStateChange = func(_ string, from, to gobreaker.State) {
			obs.BreakerChanged(t.Name, shown, breakerStateName(from), breakerStateName(to))
			log.Warn("breaker state change", zap.String("endpoint", shown),
				zap.Stringer("from", breakerStateName(from)), zap.Stringer("to", breakerStateName(to)))
			if share != nil {
				name := breakerStateName(to)
				share.Share(t.Name, shown, name, shareUntil(t, name, now()))
			}
			if changed != nil {
				changed()
			}
		}
		host := shown
		if u, err := url.Parse(ep); err == nil {
			host = u.Host // never the user info
		}
		out = append(out, &endpointBreaker{endpoint: ep, shown: shown, host: host, cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](st), openFor: p.OpenTimeout})
	}
	return out
}

// tripped is the trip rule of policy p: ConsecutiveFailures failures in a
// row, or a failure ratio of at least FailureRatio once MinRequests calls
// completed within the window. Only completed calls that count are counted:
// gobreaker's Requests also holds calls still in flight and excluded answers
// (a 4xx, an SSRF refusal), which would dilute the ratio.
func tripped(p BreakerPolicy, c gobreaker.Counts) bool {
	if c.ConsecutiveFailures >= uint32(p.ConsecutiveFailures) {
		return true
	}
	done := c.TotalSuccesses + c.TotalFailures
	return done >= uint32(p.MinRequests) && float64(c.TotalFailures)/float64(done) >= p.FailureRatio
}

// breakerStateName is the contract's spelling of a breaker state.
func breakerStateName(s gobreaker.State) schemas.BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return schemas.BreakerOpen
	case gobreaker.StateHalfOpen:
		return schemas.BreakerHalfOpen
	default:
		return schemas.BreakerClosed
	}
}

// pickEndpoint returns the first endpoint whose breaker lets a call through,
// with its index and the breaker's done callback: the primary while its
// breaker is closed; the next one while it is open; the primary again for a
// half-open probe, and for good once that probe succeeded (which closes its
// breaker). When none lets a call through it returns nil and -1.
// An endpoint another instance's breaker keeps closed to the fleet is
// skipped like an open one.
func pickEndpoint(bs []*endpointBreaker, now time.Time) (*endpointBreaker, int, func(error)) {
	for i, b := range bs {
		if b.fleetUntil.Load() != 0 {
			if open, _ := b.fleetOpen(now.UnixNano()); open {
				continue
			}
		}
		if done, err := b.cb.Allow(); err == nil {
			return b, i, done
		}
	}
	return nil, -1, nil
}

// noteEndpoint records that a call goes to endpoint i and, when the previous
// call went elsewhere, logs and reports the switch.
func (w *Worker) noteEndpoint(i int) {
	prev := int(w.lastEndpoint.Swap(int32(i)))
	if prev == i || prev < 0 || prev >= len(w.breakers) {
		return
	}
	from, to := w.breakers[prev], w.breakers[i]
	w.o.log.Warn("endpoint switched",
		zap.String("from", from.host), zap.String("to", to.host), zap.Int("endpoint_index", i))
	w.o.obs.EndpointSwitched(w.t.Name, from.shown, to.shown)
}

// holdFor is how long a consumer holds while every endpoint is open: until
// the first of them may be tried again (a locally open breaker's open
// timeout, or the end of another instance's).
func holdFor(bs []*endpointBreaker, now time.Time) time.Duration {
	d := time.Duration(-1)
	for _, b := range bs {
		e := b.openFor
		if open, u := b.fleetOpen(now.UnixNano()); open && b.cb.State() != gobreaker.StateOpen {
			e = time.Duration(u - now.UnixNano())
		}
		if d < 0 || e < d {
			d = e
		}
	}
	return max(d, 250*time.Millisecond)
}
