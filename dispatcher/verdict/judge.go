package verdict

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// DefaultWindow is the window a verdict is judged on when Settings.Window
// is zero: 24 samples of the 5s backlog poll, long enough that a target
// whose calls take the default 30s total timeout reaches outcomes within
// it, and short enough that a stall is told within minutes.
const DefaultWindow = 2 * time.Minute

// Settings tune Judge. The zero value judges on DefaultWindow.
type Settings struct {
	// Window is how far back samples are judged: a target is STALLED after
	// a window without an outcome, GROWING when its backlog rose over at
	// least half a window.
	Window time.Duration
}

// WindowOrDefault is s.Window, or DefaultWindow when it is not above zero.
func (s Settings) WindowOrDefault() time.Duration {
	if s.Window > 0 {
		return s.Window
	}
	return DefaultWindow
}

// Sample is one reading of a target, taken at every backlog poll: the
// backlog (fleet-wide: the target's jobs stored in the streams) and the
// counters of the instance's worker, which only grow.
type Sample struct {
	At      time.Time
	Backlog uint64
	// Outcomes are jobs delivered, dead-lettered or sent to fallback: the
	// progress. A retry scheduled or a park is not an outcome, nor an ack
	// (a black-holed target still acks after its timeouts).
	Outcomes     uint64
	Deliveries   uint64
	Redeliveries uint64
	Retries      uint64
	Parks        uint64
	Calls        uint64
	CallsDone    uint64
	RateWaits    uint64
	// InFlight is the calls in flight, Buffered the deliveries held not
	// in a call, at At.
	InFlight int
	Buffered int
}

// Breaker is the state of one endpoint's breaker now.
type Breaker struct {
	// Endpoint is the endpoint's display form.
	Endpoint string
	// Open is true while the breaker is open or half-open (probing), or
	// another instance's open breaker keeps this one away: no call goes
	// there but probes.
	Open bool
}

// Pause is an operator's pause of a target.
type Pause struct {
	// Until is when it ends; zero: until resumed.
	Until time.Time
	// Why says what paused it, in words (may be empty).
	Why string
}

// Facts are what holds now, as opposed to the samples' trend.
type Facts struct {
	// Target names the target, for causes.
	Target string
	// Paused is the target's pause; nil when it is not paused.
	Paused *Pause
	// Breakers are the endpoints' breakers, in order.
	Breakers []Breaker
	// Hold is true with when_open: hold; HeldUntil is when the hold ends
	// (zero: no hold now).
	Hold      bool
	HeldUntil time.Time
	// Concurrency and RateLimit (calls/s; 0: none) are the limits the
	// instance applies; LastErrorClass is the class of the last failed
	// call.
	Concurrency    int
	RateLimit      float64
	LastErrorClass string
	// Servers is how many live instances serve the target, this one
	// included (0 or 1: this one alone).
	Servers int
}

// NoETA is Verdict.ETA when the backlog does not drain: no outcome in
// the window.
const NoETA time.Duration = -1

// Verdict is the judgment of one target.
type Verdict struct {
	State State
	// Cause says why, in words.
	Cause string
	// Until is when a HELD or PAUSED state ends, when known.
	Until time.Time
	// Backlog is the last sample's backlog.
	Backlog uint64
	// Trend is how fast the backlog changed over the window (jobs per
	// second, least squares; negative while it drains), Rate the outcomes
	// per second.
	Trend float64
	Rate  float64
	// ETA is how long the backlog takes to be worked off at Rate, counting
	// nothing published meanwhile: 0 without a backlog, NoETA without
	// outcomes.
	ETA time.Duration
	// Span is how much of the window the samples cover.
	Span time.Duration
	// InFlight and Buffered are the last sample's.
	InFlight int
	Buffered int
	// Outcomes, Deliveries and Redeliveries happened within Span.
	Outcomes     uint64
	Deliveries   uint64
	Redeliveries uint64
}

// Judge judges a target on its samples (oldest first; those older than the
// window, but the last of them, are ignored) and the facts of now.
// Precedence: PAUSED > HELD > OPEN > STALLED > GROWING > OK (STOPPED and
// UNKNOWN are the reader's, for targets no live instance judges). It is a
// pure function.
func Judge(set Settings, samples []Sample, f Facts, now time.Time) Verdict {
	window := set.WindowOrDefault()
	w := inWindow(samples, now.Add(-window))
	v := Verdict{State: OK, ETA: 0}
	if len(w) > 0 {
		first, last := w[0], w[len(w)-1]
		v.Backlog, v.InFlight, v.Buffered = last.Backlog, last.InFlight, last.Buffered
		v.Span = last.At.Sub(first.At)
		v.Outcomes = delta(first.Outcomes, last.Outcomes)
		v.Deliveries = delta(first.Deliveries, last.Deliveries)
		v.Redeliveries = delta(first.Redeliveries, last.Redeliveries)
		if s := v.Span.Seconds(); s > 0 {
			v.Rate = float64(v.Outcomes) / s
		}
		v.Trend = slope(w)
	}
	switch {
	case v.Backlog == 0:
	case v.Rate > 0:
		v.ETA = time.Duration(float64(v.Backlog) / v.Rate * float64(time.Second))
	default:
		v.ETA = NoETA
	}

	if p := f.Paused; p != nil {
		v.State, v.Until = Paused, p.Until
		v.Cause = p.Why
		if v.Cause == "" {
			v.Cause = "paused" + until(p.Until)
		}
		return v
	}
	if open := openBreakers(f.Breakers); len(f.Breakers) > 0 && len(open) == len(f.Breakers) {
		if f.Hold {
			v.State, v.Until = Held, f.HeldUntil
			v.Cause = "every breaker open (when_open: hold), jobs parked" + until(f.HeldUntil) + ": " + list(open)
		} else {
			v.State = Open
			v.Cause = "breaker open on " + list(open) + "; jobs go to fallback"
		}
		return v
	}
	if len(w) == 0 {
		v.Cause = "no sample yet"
		return v
	}
	first, last := w[0], w[len(w)-1]
	covered := !first.At.After(now.Add(-window))
	if covered && v.Outcomes == 0 && allBacklogged(w) {
		if f.Servers > 1 && v.Deliveries == 0 {
			v.Cause = fmt.Sprintf("no job of it came to this instance in %s; %d other instances serve it", short(window), f.Servers-1)
			return v
		}
		v.State = Stalled
		v.Cause = stalledCause(w, f, window)
		return v
	}
	recent := slope(secondHalf(w))
	if v.Backlog > 0 && v.Span >= window/2 && v.Trend > 0 && last.Backlog > first.Backlog && recent > 0 {
		v.State = Growing
		v.Cause = growingCause(w, v, f)
		return v
	}
	switch {
	case v.Backlog == 0 && v.Outcomes == 0 && delta(first.Retries, last.Retries)+delta(first.Parks, last.Parks) > 0:
		v.Cause = fmt.Sprintf("nothing pending; %d retries and parks scheduled in %s", delta(first.Retries, last.Retries)+delta(first.Parks, last.Parks), short(window))
	case v.Backlog == 0 && v.Outcomes == 0:
		v.Cause = "idle"
	case v.Backlog == 0:
		v.Cause = "keeping up at " + perSecond(v.Rate)
	case recent < 0:
		v.Cause = fmt.Sprintf("draining at %s net, %s done", perSecond(-recent), perSecond(v.Rate))
	default:
		v.Cause = "working at " + perSecond(v.Rate)
	}
	return v
}

// inWindow returns the samples from the last one taken at or before from
// (the window's base) on; all of them when none is that old.
func inWindow(samples []Sample, from time.Time) []Sample {
	base := 0
	for i, s := range samples {
		if s.At.After(from) {
			break
		}
		base = i
	}
	return samples[base:]
}

// secondHalf is the samples of the later half of w's time span.
func secondHalf(w []Sample) []Sample {
	mid := w[0].At.Add(w[len(w)-1].At.Sub(w[0].At) / 2)
	for i, s := range w {
		if !s.At.Before(mid) {
			return w[i:]
		}
	}
	return w[len(w)-1:]
}

// Trend is how fast the backlog of samples (oldest first) changed, in jobs
// per second: the least-squares slope; 0 with fewer than two samples.
func Trend(samples []Sample) float64 { return slope(samples) }

// slope is the least-squares slope of the backlog over time, per second.
func slope(w []Sample) float64 {
	if len(w) < 2 {
		return 0
	}
	t0 := w[0].At
	var n, sx, sy, sxx, sxy float64
	for _, s := range w {
		x, y := s.At.Sub(t0).Seconds(), float64(s.Backlog)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func allBacklogged(w []Sample) bool {
	for _, s := range w {
		if s.Backlog == 0 {
			return false
		}
	}
	return true
}

func delta(a, b uint64) uint64 {
	if b < a {
		return 0 // a worker replaced by a reload counts from 0
	}
	return b - a
}

func stalledCause(w []Sample, f Facts, window time.Duration) string {
	first, last := w[0], w[len(w)-1]
	in := short(window)
	class := ""
	if f.LastErrorClass != "" {
		class = " (" + f.LastErrorClass + ")"
	}
	switch {
	case last.InFlight > 0 && delta(first.CallsDone, last.CallsDone) == 0:
		return fmt.Sprintf("%d calls in flight, none ended in %s", last.InFlight, in)
	case delta(first.Retries, last.Retries) > 0:
		return fmt.Sprintf("calls fail%s: %d retries scheduled, no outcome in %s", class, delta(first.Retries, last.Retries), in)
	case delta(first.Parks, last.Parks) > 0:
		return fmt.Sprintf("jobs parked %d times, no outcome in %s", delta(first.Parks, last.Parks), in)
	case delta(first.Deliveries, last.Deliveries) == 0:
		return fmt.Sprintf("no job delivered in %s (%d stored)", in, last.Backlog)
	}
	return fmt.Sprintf("no outcome in %s (%d stored)", in, last.Backlog)
}

func growingCause(w []Sample, v Verdict, f Facts) string {
	first, last := w[0], w[len(w)-1]
	secs := v.Span.Seconds()
	calls := float64(delta(first.Calls, last.Calls)) / secs
	var inFlight float64
	for _, s := range w {
		inFlight += float64(s.InFlight)
	}
	inFlight /= float64(len(w))
	retries := delta(first.Retries, last.Retries)
	switch {
	case f.RateLimit > 0 && delta(first.RateWaits, last.RateWaits) > 0 && calls >= 0.9*f.RateLimit:
		return fmt.Sprintf("rate limit %s saturated", perSecond(f.RateLimit))
	case f.Concurrency > 0 && inFlight >= 0.9*float64(f.Concurrency):
		return fmt.Sprintf("concurrency %d saturated, %s done", f.Concurrency, perSecond(v.Rate))
	case retries > v.Outcomes:
		class := ""
		if f.LastErrorClass != "" {
			class = " (" + f.LastErrorClass + ")"
		}
		return fmt.Sprintf("calls fail%s: %d retries, %d outcomes", class, retries, v.Outcomes)
	}
	return fmt.Sprintf("jobs come faster than they end: backlog %s, %s done", signed(v.Trend), perSecond(v.Rate))
}

func openBreakers(bs []Breaker) []string {
	var out []string
	for _, b := range bs {
		if b.Open {
			out = append(out, b.Endpoint)
		}
	}
	return out
}

// list names endpoints: the first three, then how many more.
func list(eps []string) string {
	if len(eps) <= 3 {
		return strings.Join(eps, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(eps[:3], ", "), len(eps)-3)
}

func until(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " until " + t.UTC().Format("15:04:05") + " UTC"
}

// perSecond prints a rate with 3 significant digits: "12/s", "0.25/s".
func perSecond(r float64) string {
	return fmt.Sprintf("%.3g/s", r)
}

func signed(r float64) string {
	return fmt.Sprintf("%+.3g/s", r)
}

// short prints a duration without zero units: 2m, 90s → 1m30s, 5s.
func short(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d%time.Minute == 0 && d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

// FormatETA prints an ETA: "-" without a backlog, "never" for NoETA, else
// the time rounded up to the second ("4m10s").
func FormatETA(d time.Duration) string {
	switch {
	case d == NoETA:
		return "never"
	case d <= 0:
		return "-"
	case d < time.Second:
		return "<1s"
	}
	return short(time.Duration(math.Ceil(d.Seconds())) * time.Second)
}
