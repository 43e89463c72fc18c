package worker

import (
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Tee is an Observer that tells every event to each of obs, in order: the
// metrics and the console's in-process figures hang off one worker this
// way. A nil entry is skipped; with one Observer left it is returned as is.
func Tee(obs ...Observer) Observer {
	var t tee
	for _, o := range obs {
		if o != nil {
			t = append(t, o)
		}
	}
	switch len(t) {
	case 0:
		return nopObserver{}
	case 1:
		return t[0]
	}
	return t
}

type tee []Observer

var _ Observer = tee(nil)

func (t tee) AttemptStarted(target, endpoint string) {
	for _, o := range t {
		o.AttemptStarted(target, endpoint)
	}
}

func (t tee) AttemptDone(target, endpoint string, status int, class string, took time.Duration) {
	for _, o := range t {
		o.AttemptDone(target, endpoint, status, class, took)
	}
}

func (t tee) JobEnded(target, outcome, reason string) {
	for _, o := range t {
		o.JobEnded(target, outcome, reason)
	}
}

func (t tee) RetryScheduled(target, class string, delay time.Duration) {
	for _, o := range t {
		o.RetryScheduled(target, class, delay)
	}
}

func (t tee) Parked(target, reason string) {
	for _, o := range t {
		o.Parked(target, reason)
	}
}

func (t tee) PauseChanged(target string, paused bool) {
	for _, o := range t {
		o.PauseChanged(target, paused)
	}
}

func (t tee) BreakerChanged(target, endpoint string, from, to schemas.BreakerState) {
	for _, o := range t {
		o.BreakerChanged(target, endpoint, from, to)
	}
}

func (t tee) EndpointSwitched(target, from, to string) {
	for _, o := range t {
		o.EndpointSwitched(target, from, to)
	}
}

func (t tee) RecordTooLarge(target, record string) {
	for _, o := range t {
		o.RecordTooLarge(target, record)
	}
}
