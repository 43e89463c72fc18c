package console

import (
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// TestFigures: rates over the window from snapshots, latency quantiles,
// failures by class, transitions, and a backlog series that keeps a live
// last point between samples.
func TestFigures(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	f := NewFigures(FigureSettings{})
	f.now = func() time.Time { return now }
	f.ObserveBacklog(map[string]uint64{"a": 10}, now)
	for i := range 100 {
		class := ""
		if i%10 == 0 {
			class = "timeout_total"
		}
		f.AttemptDone("a", "https://e/", 200, class, time.Duration(i+1)*time.Millisecond)
		f.JobEnded("a", schemas.OutcomeDelivered, "")
	}
	f.JobEnded("a", schemas.OutcomeDeadLettered, schemas.ReasonExhausted)
	f.RetryScheduled("a", "timeout_total", time.Second)
	f.BreakerChanged("a", "https://e/", schemas.BreakerClosed, schemas.BreakerOpen)
	now = now.Add(5 * time.Second)
	f.ObserveBacklog(map[string]uint64{"a": 7}, now) // live point: replaces nothing yet
	now = now.Add(5 * time.Second)
	f.ObserveBacklog(map[string]uint64{"a": 4}, now) // replaces the live point: a sample
	got := f.Target("a", true)
	r := got.Rates
	if r.Over != 10*time.Second || r.PerSecond != 10.1 || r.Success != 100.0/101 || r.RetriesPerMin != 6 || r.DeadLettersPerMin != 6 {
		t.Errorf("rates = %+v", r)
	}
	if r.P50 < 40*time.Millisecond || r.P50 > 60*time.Millisecond || r.P99 < 90*time.Millisecond || r.P99 > 100*time.Millisecond {
		t.Errorf("p50 %v, p99 %v; want about 50ms and 99ms", r.P50, r.P99)
	}
	if got.Classes["timeout_total"] != 10 || len(got.Failures) != 10 || len(got.Transitions) != 1 || got.Transitions[0].To != "open" {
		t.Errorf("events: %+v %d %+v", got.Classes, len(got.Failures), got.Transitions)
	}
	if len(got.Backlog) != 2 || got.Backlog[0].Value != 10 || got.Backlog[1].Value != 4 {
		t.Errorf("backlog = %+v", got.Backlog)
	}
	if none := f.Target("b", false); none.Rates.Success != -1 || none.Rates.P50 != -1 || len(none.Backlog) != 0 {
		t.Errorf("a target never seen: %+v", none)
	}
}
