package verdict

import (
	"errors"
	"fmt"
	"strings"
)

// State is a target's health. The order of the constants is the
// precedence: a larger State is worse, and when several hold (or several
// instances judge one target) the worst wins.
type State uint8

const (
	// Unknown: no verdict is known — no live instance serves the target
	// and nothing of it is stored, or the instances serving it publish no
	// verdicts (a release before them).
	Unknown State = iota
	// OK: draining or idle.
	OK
	// Growing: the backlog rises over the window while work is done.
	Growing
	// Stalled: a backlog and no outcome (delivered, dead-lettered,
	// fallback) for the whole window.
	Stalled
	// Open: every endpoint's breaker is open (or probing); jobs go to
	// fallback.
	Open
	// Held: every endpoint's breaker is open with when_open: hold; jobs
	// are parked until the hold ends.
	Held
	// Paused: an operator paused the target.
	Paused
	// Stopped: no live instance serves the target, and jobs of it are
	// stored.
	Stopped
)

// States are every state, worst first: the precedence.
var States = []State{Stopped, Paused, Held, Open, Stalled, Growing, OK, Unknown}

var names = [...]string{Unknown: "UNKNOWN", OK: "OK", Growing: "GROWING", Stalled: "STALLED", Open: "OPEN",
	Held: "HELD", Paused: "PAUSED", Stopped: "STOPPED"}

// String is the state's name: OK, GROWING, STALLED, OPEN, HELD, PAUSED,
// STOPPED or UNKNOWN.
func (s State) String() string {
	if int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// ErrUnknownState is wrapped by ParseState for a name that is no state.
var ErrUnknownState = errors.New("unknown health state")

// ParseState returns the state named s (any case).
func ParseState(s string) (State, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return State(i), nil
		}
	}
	return Unknown, fmt.Errorf("%w %q (want one of %s)", ErrUnknownState, s, strings.Join(Names(), ", "))
}

// Names are the states' names, worst first.
func Names() []string {
	out := make([]string, len(States))
	for i, s := range States {
		out[i] = s.String()
	}
	return out
}

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Worse reports whether a takes precedence over b.
func (s State) Worse(b State) bool { return s > b }
