package console

import (
	"context"
	"time"
)

// Backend is what the console asks of the running service. Targets is
// called by every refresh of the overview: it must read memory only.
type Backend interface {
	// Targets is the live state of the targets this instance serves,
	// sorted by name.
	Targets() []TargetState
	// Fleet reads the fleet: the live instances and which targets they
	// serve (on demand: the fleet page).
	Fleet(ctx context.Context) (*Fleet, error)
	// Pause pauses target for the fleet until until (zero: until
	// resumed), as who, and audits it.
	Pause(ctx context.Context, target string, until time.Time, who, reason string) error
	// Resume resumes target for the fleet as who, and audits it; was
	// says whether it was paused.
	Resume(ctx context.Context, target, who string) (was bool, err error)
}

// TargetState is what the service holds of one target now.
type TargetState struct {
	Name       string
	Endpoints  []EndpointState
	LimitScope string
	// Concurrency and RatePerSecond are this instance's limits now (0:
	// no rate limit).
	Concurrency   int
	RatePerSecond float64
	// InFlight are the calls in flight, Buffered the deliveries held that
	// are not in a call.
	InFlight, Buffered int
	// Servers counts the live instances serving the target.
	Servers int
	// Paused is the operator's pause in force, nil when none.
	Paused *PauseState
	// HeldUntil is when a hold ends (when_open: hold), zero when none.
	HeldUntil time.Time
}

// EndpointState is one endpoint of a target: its breaker here and as the
// fleet holds it.
type EndpointState struct {
	// Endpoint is its display form (never user info or a query).
	Endpoint string
	// Local is this instance's breaker: closed, half_open or open.
	Local string
	// FleetOpenBy names the instance that holds it open for the fleet
	// ("" when none), until FleetUntil.
	FleetOpenBy string
	FleetUntil  time.Time
}

// PauseState is a pause in force.
type PauseState struct {
	Until  time.Time // zero: until resumed
	By     string
	At     time.Time
	Reason string
}

// Fleet is the fleet page's content.
type Fleet struct {
	Instances []Instance
	// Targets are the targets some live instance serves, with how many
	// serve each.
	Targets []FleetTarget
	// OpenBreakers are the breakers some instance holds open.
	OpenBreakers []FleetBreaker
	// Complete is false when some instance's target set was not read.
	Complete bool
}

// Instance is one live instance.
type Instance struct {
	ID, Instance, ServiceName string
	StartedAt, At             time.Time
	TargetCount, Partitions   int
	// Self marks this instance.
	Self bool
}

// FleetTarget is how a target is shared among the instances: Servers
// serve it; this instance's Share (rank Rank of Servers) when it serves it.
type FleetTarget struct {
	Target     string
	Servers    int
	Here       bool
	Rank       int
	LimitScope string
}

// FleetBreaker is a breaker some instance holds open.
type FleetBreaker struct {
	Target, Endpoint, State, By string
	At, Until                   time.Time
}
