package worker

import (
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Observer receives a worker's events as they happen; metrics (and anything
// else that counts) hang off it. Every method must be cheap and safe for
// concurrent use: it runs on the hot path. Label values passed in are
// bounded: target names from the config, endpoints in their display form
// (schemas.DisplayEndpoint: never a URL's user info or query), contract
// error classes and reasons, never job ids or paths.
type Observer interface {
	// AttemptStarted is called before a call goes out (in flight +1).
	AttemptStarted(target, endpoint string)
	// AttemptDone is called when it ended (in flight -1): status 0 and a
	// class for a call without a response, class "" for a 2xx.
	AttemptDone(target, endpoint string, status int, class string, took time.Duration)
	// JobEnded is called once per job outcome: "delivered", "dead_lettered"
	// (with its reason) or "fallback".
	JobEnded(target, outcome, reason string)
	// RetryScheduled is called when a retry was stored, with the failure's
	// class and the delay chosen.
	RetryScheduled(target, class string, delay time.Duration)
	// Parked is called when a job is scheduled back for later without an
	// attempt, with why (one of schemas.ParkReasons).
	Parked(target, reason string)
	// PauseChanged is called when the target is paused (true) and when its
	// pause ends (false): resumed, or at its end.
	PauseChanged(target string, paused bool)
	// BreakerChanged is called on every state change of an endpoint's
	// breaker (states: closed, half_open, open).
	BreakerChanged(target, endpoint string, from, to schemas.BreakerState)
	// EndpointSwitched is called when calls move from one endpoint of a
	// target to another (failover, and back).
	EndpointSwitched(target, from, to string)
	// RecordTooLarge is called when a job ends without its record because
	// the server refuses the record for its size even cut to its minimum;
	// record is schemas.RecordDeadLetter or schemas.RecordFallback.
	RecordTooLarge(target, record string)
}

// nopObserver is the default Observer.
type nopObserver struct{}

func (nopObserver) AttemptStarted(string, string)                                             {}
func (nopObserver) AttemptDone(string, string, int, string, time.Duration)                    {}
func (nopObserver) JobEnded(string, string, string)                                           {}
func (nopObserver) Parked(string, string)                                                     {}
func (nopObserver) PauseChanged(string, bool)                                                 {}
func (nopObserver) RetryScheduled(string, string, time.Duration)                              {}
func (nopObserver) BreakerChanged(string, string, schemas.BreakerState, schemas.BreakerState) {}
func (nopObserver) EndpointSwitched(string, string, string)                                   {}
func (nopObserver) RecordTooLarge(string, string)                                             {}

var _ Observer = nopObserver{}
