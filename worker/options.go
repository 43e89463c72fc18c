package worker

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// ErrInvalidOption is wrapped by every error of New about its input.
var ErrInvalidOption = errors.New("worker: invalid option")

// Option sets runtime wiring of a Worker.
type Option func(*options) error

// options is the runtime wiring of a Worker: who it logs to and reports
// to, its identity and its clock. Policy lives in Target and Security.
type options struct {
	log         *zap.Logger
	obs         Observer
	topo        schemas.Topology
	serviceName string
	instance    string
	userAgent   string
	now         func() time.Time
	share       BreakerShare // nil: transitions stay here
	stateKeys   StateKeys    // none: no retry state is trusted (statemac.go)
	// spread is how many deliveries of a job one delivery to this
	// instance stands for (WithDeliverySpread); nil: one.
	spread func(target string) int
}

// defaultOptions is the wiring of a Worker built without options.
func defaultOptions() options {
	o := options{
		log: zap.NewNop(), obs: nopObserver{}, topo: schemas.Topology{Prefix: "dispatch"}, serviceName: "dispatcher",
		userAgent: "dispatcher/dev", now: time.Now,
	}
	if h, err := os.Hostname(); err == nil {
		o.instance = h + "/" + strconv.Itoa(os.Getpid())
	}
	return o
}

// WithLogger sets the logger (default: no logs).
func WithLogger(l *zap.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		o.log = l
		return nil
	}
}

// WithObserver sets the Observer of the worker's events (default: none).
func WithObserver(obs Observer) Option {
	return func(o *options) error {
		if obs == nil {
			return fmt.Errorf("%w: nil observer", ErrInvalidOption)
		}
		o.obs = obs
		return nil
	}
}

// WithSubjectPrefix sets the subject prefix (default "dispatch").
func WithSubjectPrefix(p string) Option {
	return func(o *options) error {
		if !schemas.ValidPrefix(p) {
			return fmt.Errorf("%w: subject prefix %q: want dot-separated tokens of letters, digits, _ and -", ErrInvalidOption, p)
		}
		o.topo = schemas.Topology{Prefix: p}
		return nil
	}
}

// WithIdentity sets the service name and instance written into records.
func WithIdentity(serviceName, instance string) Option {
	return func(o *options) error {
		if serviceName == "" {
			return fmt.Errorf("%w: empty service name", ErrInvalidOption)
		}
		o.serviceName, o.instance = serviceName, instance
		return nil
	}
}

// WithUserAgent sets the User-Agent of outgoing calls that do not set their
// own (default "dispatcher/dev").
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		if ua == "" {
			return fmt.Errorf("%w: empty user agent", ErrInvalidOption)
		}
		o.userAgent = ua
		return nil
	}
}

// WithClock replaces time.Now for every decision the worker takes on time:
// expiry, retry and hold times, the budget's window, fleet breaker records
// and signing timestamps (tests move it instead of sleeping). Timeouts of
// calls in flight and gobreaker's own open timeout run on the real clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}

// WithDeliverySpread tells the worker that a job of target may have been
// delivered to instances that do not serve it (a rolling deploy: they hand
// it back) about spread(target) times for each delivery that reached one
// that does: the bound on deliveries without an outcome grows by as much.
func WithDeliverySpread(spread func(target string) int) Option {
	return func(o *options) error {
		if spread == nil {
			return fmt.Errorf("%w: nil delivery spread", ErrInvalidOption)
		}
		o.spread = spread
		return nil
	}
}
