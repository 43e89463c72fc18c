package console

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
)

// Row is one target of the overview.
type Row struct {
	Target  string        `json:"target"`
	State   string        `json:"state"`
	Cause   string        `json:"cause,omitempty"`
	Since   time.Time     `json:"since,omitzero"`
	Until   time.Time     `json:"until,omitzero"`
	Backlog uint64        `json:"backlog"`
	Rates   RatesJSON     `json:"rates"`
	Limits  LimitsJSON    `json:"limits"`
	Paused  *PauseState   `json:"paused,omitempty"`
	Ends    []EndpointRow `json:"endpoints"`
	// InFlight and Buffered are this instance's now; Servers the live
	// instances serving the target.
	InFlight int `json:"in_flight"`
	Buffered int `json:"buffered"`
	Servers  int `json:"servers"`
	// Spark is the backlog's sparkline (not in JSON: Backlog15m is).
	Spark      Spark     `json:"-"`
	Backlog15m []float64 `json:"backlog_15m"`
	state      verdict.State
}

// RatesJSON are a Row's figures over the last minute.
type RatesJSON struct {
	OverSeconds       float64 `json:"over_seconds"`
	PerSecond         float64 `json:"per_second"`
	Success           float64 `json:"success"` // -1: no outcome
	P50MS             float64 `json:"p50_ms"`  // -1: no attempt
	P99MS             float64 `json:"p99_ms"`
	RetriesPerMin     float64 `json:"retries_per_min"`
	DeadLettersPerMin float64 `json:"dead_letters_per_min"`
	FallbacksPerMin   float64 `json:"fallbacks_per_min"`
	FailedPerMin      float64 `json:"failed_attempts_per_min"`
	p50, p99          time.Duration
}

// LimitsJSON are a target's limits on this instance.
type LimitsJSON struct {
	Concurrency   int     `json:"concurrency"`
	RatePerSecond float64 `json:"rate_per_second"`
	Scope         string  `json:"scope"`
}

// EndpointRow is an endpoint's breaker here and in the fleet.
type EndpointRow struct {
	Endpoint    string    `json:"endpoint"`
	Local       string    `json:"local"`
	FleetOpenBy string    `json:"fleet_open_by,omitempty"`
	FleetUntil  time.Time `json:"fleet_until,omitzero"`
}

// Overview is the overview's content.
type Overview struct {
	At      time.Time      `json:"at"`
	Counts  []StateCount   `json:"counts"`
	Rows    []Row          `json:"targets"`
	Omitted int            `json:"omitted,omitempty"`
	Filter  string         `json:"-"`
	Span    time.Duration  `json:"-"`
	Totals  OverviewTotals `json:"totals"`
}

// StateCount is how many targets are in a state.
type StateCount struct {
	State string `json:"state"`
	N     int    `json:"n"`
}

// OverviewTotals sum the rows.
type OverviewTotals struct {
	Targets   int     `json:"targets"`
	Backlog   uint64  `json:"backlog"`
	PerSecond float64 `json:"per_second"`
	InFlight  int     `json:"in_flight"`
}

// overview reads the figures and the live state: memory only.
func (c *Console) overview(filter string) Overview {
	now := c.now()
	ov := Overview{At: now.UTC(), Filter: filter, Span: c.figures.set.Span}
	counts := map[verdict.State]int{}
	lower := strings.ToLower(filter)
	for _, ts := range c.backend.Targets() {
		row := c.row(ts, c.figures.Target(ts.Name, false), now)
		counts[row.state]++
		ov.Totals.Targets++
		ov.Totals.Backlog += row.Backlog
		ov.Totals.PerSecond += row.Rates.PerSecond
		ov.Totals.InFlight += row.InFlight
		if filter != "" && !strings.Contains(strings.ToLower(ts.Name), lower) {
			continue
		}
		ov.Rows = append(ov.Rows, row)
	}
	for _, s := range verdict.States {
		if counts[s] > 0 {
			ov.Counts = append(ov.Counts, StateCount{State: s.String(), N: counts[s]})
		}
	}
	// The worst first, then the busiest, then by name.
	slices.SortFunc(ov.Rows, func(a, b Row) int {
		if a.state != b.state {
			return cmp.Compare(b.state, a.state)
		}
		if a.Backlog != b.Backlog {
			return cmp.Compare(b.Backlog, a.Backlog)
		}
		return strings.Compare(a.Target, b.Target)
	})
	if n := c.set.OverviewRows; len(ov.Rows) > n {
		ov.Omitted = len(ov.Rows) - n
		ov.Rows = ov.Rows[:n]
	}
	return ov
}

// row is one target's row at now, from its figures f.
func (c *Console) row(ts TargetState, f TargetFigures, now time.Time) Row {
	r := Row{Target: ts.Name, State: verdict.Unknown.String(), Paused: ts.Paused, InFlight: ts.InFlight, Buffered: ts.Buffered,
		Servers: ts.Servers, Limits: LimitsJSON{Concurrency: ts.Concurrency, RatePerSecond: ts.RatePerSecond, Scope: ts.LimitScope}}
	if f.Verdicts {
		r.State, r.Cause, r.Since, r.Until, r.Backlog = f.Verdict.State, f.Verdict.Cause, f.Verdict.Since, f.Verdict.Until, f.Verdict.Backlog
	}
	// A pause is known at once; the verdict says it at the next poll.
	if ts.Paused != nil && r.State != verdict.Paused.String() && r.State != verdict.Stopped.String() {
		r.State, r.Cause, r.Since, r.Until = verdict.Paused.String(), "paused by "+ts.Paused.By, ts.Paused.At, ts.Paused.Until
		if ts.Paused.Reason != "" {
			r.Cause += ": " + ts.Paused.Reason
		}
	}
	r.state, _ = verdict.ParseState(r.State)
	if n := len(f.Backlog); n > 0 {
		r.Backlog = uint64(f.Backlog[n-1].Value)
		if f.Verdicts {
			r.Backlog = f.Verdict.Backlog
		}
	}
	r.Spark = spark(f.Backlog, now, c.figures.set.Span)
	r.Backlog15m = make([]float64, len(f.Backlog))
	for i, p := range f.Backlog {
		r.Backlog15m[i] = p.Value
	}
	fr := f.Rates
	r.Rates = RatesJSON{OverSeconds: fr.Over.Seconds(), PerSecond: fr.PerSecond, Success: fr.Success,
		P50MS: msf(fr.P50), P99MS: msf(fr.P99), RetriesPerMin: fr.RetriesPerMin, DeadLettersPerMin: fr.DeadLettersPerMin,
		FallbacksPerMin: fr.FallbacksPerMin, FailedPerMin: fr.FailedPerMin, p50: fr.P50, p99: fr.P99}
	for _, e := range ts.Endpoints {
		r.Ends = append(r.Ends, EndpointRow(e))
	}
	return r
}

func msf(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return float64(d) / float64(time.Millisecond)
}

// P50 and P99 are the row's latencies for the templates.
func (r RatesJSON) P50() time.Duration { return r.p50 }

// P99 is the 99th percentile of the attempts' durations.
func (r RatesJSON) P99() time.Duration { return r.p99 }

func (c *Console) serveOverview(w http.ResponseWriter, r *http.Request, a access) {
	c.render(w, r, http.StatusOK, "overview", a, c.overview(r.URL.Query().Get("q")))
}

func (c *Console) serveOverviewPart(w http.ResponseWriter, r *http.Request, a access) {
	c.renderPart(w, "overview", "overview-body", a, c.overview(r.URL.Query().Get("q")))
}

func (c *Console) serveOverviewJSON(w http.ResponseWriter, r *http.Request, _ access) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c.overview(r.URL.Query().Get("q")))
}
