package dispatcher

import (
	"fmt"
	"slices"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
)

// TargetHealth is a target's verdict as lag shows it: merged from the
// verdicts the live instances serving it publish (the worst wins, by
// verdict.States), or judged at once when none serves it.
type TargetHealth struct {
	State verdict.State `json:"state"`
	Cause string        `json:"cause"`
	// Since is when the worst instance first judged it so; Until when a
	// HELD or PAUSED state ends. Nil when not known.
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"`
	// ETASeconds is how long the target takes to work off its PENDING at
	// the outcome rate the instances measured (RatePerSecond, their sum),
	// counting nothing published meanwhile: 0 without a backlog, nil when
	// nothing ends (no outcome in the window).
	ETASeconds    *float64 `json:"eta_seconds"`
	RatePerSecond float64  `json:"rate_per_second"`
	// TrendPerSecond is the backlog's change per second over the window
	// (the worst instance's reading; negative while it drains).
	TrendPerSecond float64 `json:"trend_per_second"`
	// WindowSeconds is the instances' health.window (the longest).
	WindowSeconds float64 `json:"window_seconds"`
	// Instances are the verdicts of each live instance serving the target
	// that publishes one.
	Instances []InstanceVerdict `json:"instances"`
}

// InstanceVerdict is one instance's verdict on a target.
type InstanceVerdict struct {
	ID       string        `json:"id"`
	Instance string        `json:"instance"`
	State    verdict.State `json:"state"`
	Cause    string        `json:"cause"`
	// At is when the instance judged it.
	At            time.Time `json:"at"`
	InFlight      int       `json:"in_flight"`
	Buffered      int       `json:"buffered"`
	RatePerSecond float64   `json:"rate_per_second"`
}

// SetFleet sets l's fleet view and, from it, each target's health, calls
// in flight and deliveries buffered. With no live instance serving a
// target its verdict is STOPPED when jobs of it are stored (pending or
// retrying), UNKNOWN otherwise, at once.
func (l *Lag) SetFleet(fl *FleetView) {
	l.Fleet = fl
	names := map[string]string{}
	for _, in := range fl.Instances {
		names[in.ID] = in.Instance
	}
	for i := range l.Targets {
		tl := &l.Targets[i]
		tl.Health, tl.InFlight, tl.Buffered = judgeTarget(tl, fl, names, len(fl.Instances))
	}
}

// judgeTarget merges the verdicts on tl's target.
func judgeTarget(tl *TargetLag, fl *FleetView, names map[string]string, live int) (*TargetHealth, int, int) {
	h := &TargetHealth{State: verdict.Unknown, Instances: []InstanceVerdict{}}
	ids, unknown := fl.Serving().Servers(tl.Target)
	if len(ids)+len(unknown) == 0 {
		stored := tl.Pending + tl.Retrying
		switch {
		case stored > 0 && live == 0:
			h.State, h.Cause = verdict.Stopped, fmt.Sprintf("no instance is live; %d jobs stored", stored)
		case stored > 0:
			h.State, h.Cause = verdict.Stopped, fmt.Sprintf("no instance serves %s; %d jobs stored", tl.Target, stored)
		default:
			h.Cause = "no instance serves " + tl.Target + "; nothing stored"
		}
		return h, 0, 0
	}
	var worst *TargetVerdict
	worstListed := false
	silent, inFlight, buffered := 0, 0, 0
	for _, id := range append(ids, unknown...) {
		rec := fl.health[id]
		if rec == nil {
			silent++
			continue
		}
		v, listed := rec.find(tl.Target)
		switch {
		case listed:
		case slices.Contains(unknown, id):
			continue // it may not serve the target
		default:
			v = TargetVerdict{Target: tl.Target, State: verdict.OK, Cause: "idle", Since: rec.At}
		}
		h.WindowSeconds = max(h.WindowSeconds, float64(rec.WindowMS)/1000)
		h.RatePerSecond += v.Rate
		inFlight += v.InFlight
		buffered += v.Buffered
		h.Instances = append(h.Instances, InstanceVerdict{ID: id, Instance: names[id], State: v.State, Cause: v.Cause,
			At: rec.At, InFlight: v.InFlight, Buffered: v.Buffered, RatePerSecond: v.Rate})
		// The worst wins; of equals, one listed (the instance has work of
		// the target) over an idle default.
		if worst == nil || v.State.Worse(worst.State) || (v.State == worst.State && listed && !worstListed) {
			worst, worstListed = &v, listed
		}
	}
	if worst == nil {
		h.Cause = fmt.Sprintf("%d live instance(s) serve it and publish no verdicts (a release before them, or their backlog polls fail)", silent)
		return h, 0, 0
	}
	since := worst.Since
	h.State, h.Cause, h.Since, h.Until, h.TrendPerSecond = worst.State, worst.Cause, &since, worst.Until, worst.Trend
	if len(h.Instances) > 1 {
		h.Cause = fmt.Sprintf("%s (%d instances)", h.Cause, len(h.Instances))
	}
	h.RatePerSecond = round3(h.RatePerSecond)
	switch {
	case tl.Pending == 0:
		zero := 0.0
		h.ETASeconds = &zero
	case h.RatePerSecond > 0:
		eta := float64(tl.Pending) / h.RatePerSecond
		h.ETASeconds = &eta
	}
	return h, inFlight, buffered
}
