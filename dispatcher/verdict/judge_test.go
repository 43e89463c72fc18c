package verdict

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is the fake clock's start; samples are 5s apart, like the poll's.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// series builds n samples 5s apart from t0, each made by fn from its index.
func series(n int, fn func(i int) Sample) []Sample {
	out := make([]Sample, n)
	for i := range out {
		s := fn(i)
		s.At = t0.Add(time.Duration(i) * 5 * time.Second)
		out[i] = s
	}
	return out
}

// at is the time of the last of n samples.
func at(n int) time.Time { return t0.Add(time.Duration(n-1) * 5 * time.Second) }

func TestJudge(t *testing.T) {
	t.Parallel()
	const full = 25 // 2m of samples: the default window covered
	stalled := series(full, func(i int) Sample {
		return Sample{Backlog: 40, Deliveries: 8, Calls: uint64(8 + i), CallsDone: uint64(i), Retries: uint64(i), InFlight: 8}
	})
	twoOpen := []Breaker{{Endpoint: "https://a.example.com", Open: true}, {Endpoint: "https://b.example.com", Open: true}}
	hold := t0.Add(3 * time.Minute)
	for _, tc := range []struct {
		name      string
		set       Settings
		samples   []Sample
		facts     Facts
		now       time.Time
		want      State
		cause     string // a part of the cause
		eta       time.Duration
		until     time.Time
		anyETA    bool // do not check the ETA
		wantTrend func(float64) bool
	}{
		{name: "no samples", now: t0, want: OK, cause: "no sample yet"},
		{name: "idle", samples: series(full, func(int) Sample { return Sample{} }), now: at(full), want: OK, cause: "idle"},
		{name: "waiting for retries", samples: series(full, func(i int) Sample { return Sample{Retries: uint64(min(i, 4))} }),
			now: at(full), want: OK, cause: "nothing pending; 4 retries and parks scheduled in 2m"},
		{name: "keeping up", samples: series(full, func(i int) Sample { return Sample{Outcomes: uint64(10 * i)} }),
			now: at(full), want: OK, cause: "keeping up at 2/s"},
		{
			name: "draining: ETA from the outcome rate",
			// 120 → 0 over 2m at 2/s net, with 4 outcomes/s.
			samples: series(full, func(i int) Sample {
				return Sample{Backlog: uint64(130 - 5*i), Outcomes: uint64(20 * i), Deliveries: uint64(20 * i)}
			}),
			now: at(full), want: OK, cause: "draining at 1/s net, 4/s done",
			eta:       2500 * time.Millisecond, // 10 left at 4/s
			wantTrend: func(tr float64) bool { return tr < -0.99 && tr > -1.01 },
		},
		{
			name: "growing: ETA at the measured rate",
			samples: series(full, func(i int) Sample {
				return Sample{Backlog: uint64(10 + 10*i), Outcomes: uint64(25 * i), Calls: uint64(25 * i), InFlight: 2}
			}),
			facts: Facts{Concurrency: 32}, now: at(full), want: Growing, cause: "jobs come faster than they end: backlog +2/s, 5/s done",
			eta: 50 * time.Second, // 250 stored at 5/s
		},
		{
			name: "growing: rate limit saturated",
			samples: series(full, func(i int) Sample {
				return Sample{Backlog: uint64(10 * i), Outcomes: uint64(100 * i), Calls: uint64(100 * i), RateWaits: uint64(50 * i)}
			}),
			facts: Facts{RateLimit: 20, Concurrency: 32}, now: at(full), want: Growing, cause: "rate limit 20/s saturated", anyETA: true,
		},
		{
			name: "growing: concurrency saturated",
			samples: series(full, func(i int) Sample {
				return Sample{Backlog: uint64(10 * i), Outcomes: uint64(5 * i), Calls: uint64(5 * i), InFlight: 4}
			}),
			facts: Facts{Concurrency: 4}, now: at(full), want: Growing, cause: "concurrency 4 saturated", anyETA: true,
		},
		{
			name: "growing on half a window",
			samples: series(13, func(i int) Sample {
				return Sample{Backlog: uint64(10 * i), Outcomes: uint64(5 * i)}
			}),
			now: at(13), want: Growing, anyETA: true,
		},
		{
			name: "rising on less than half a window is not judged yet",
			samples: series(10, func(i int) Sample {
				return Sample{Backlog: uint64(10 * i), Outcomes: uint64(5 * i)}
			}),
			now: at(10), want: OK, anyETA: true,
		},
		{
			name: "a burst draining is not growing",
			samples: series(full, func(i int) Sample {
				if i < 12 {
					return Sample{Outcomes: uint64(i)}
				}
				return Sample{Backlog: uint64(300 - 10*i), Outcomes: uint64(50 * i)}
			}),
			now: at(full), want: OK, cause: "draining", anyETA: true,
		},
		{name: "stalled: no outcome for the window", samples: stalled, facts: Facts{LastErrorClass: "timeout_total"}, now: at(full),
			want: Stalled, cause: "calls fail (timeout_total): 24 retries scheduled, no outcome in 2m", eta: NoETA},
		{name: "stalled: calls hang", now: at(full), want: Stalled, eta: NoETA, cause: "8 calls in flight, none ended in 2m",
			samples: series(full, func(int) Sample { return Sample{Backlog: 40, Deliveries: 8, Calls: 8, InFlight: 8} })},
		{name: "stalled: nothing delivered", now: at(full), want: Stalled, eta: NoETA, cause: "no job delivered in 2m (40 stored)",
			samples: series(full, func(int) Sample { return Sample{Backlog: 40} })},
		{name: "stalled: parked", now: at(full), want: Stalled, eta: NoETA, cause: "jobs parked 24 times",
			samples: series(full, func(i int) Sample { return Sample{Backlog: 40, Deliveries: uint64(i), Parks: uint64(i)} })},
		{name: "not stalled before a window", samples: stalled[:24], now: at(24), want: OK, eta: NoETA},
		{
			name: "not stalled when the backlog was empty in the window",
			samples: series(full, func(i int) Sample {
				if i == 3 {
					return Sample{}
				}
				return Sample{Backlog: 40}
			}),
			now: at(full), want: OK, eta: NoETA,
		},
		{name: "not stalled on an instance its jobs do not reach", now: at(full), want: OK, eta: NoETA,
			samples: series(full, func(int) Sample { return Sample{Backlog: 40} }), facts: Facts{Servers: 3},
			cause: "no job of it came to this instance in 2m; 2 other instances serve it"},
		{name: "a short window", set: Settings{Window: 10 * time.Second}, samples: stalled[20:], now: at(full), want: Stalled,
			cause: "no outcome in 10s", eta: NoETA},
		{name: "one breaker of two open is not OPEN", samples: stalled[:3], now: at(3), want: OK, eta: NoETA,
			facts: Facts{Breakers: []Breaker{{Endpoint: "https://a.example.com", Open: true}, {Endpoint: "https://b.example.com"}}}},
		{name: "open over stalled", samples: stalled, now: at(full), want: Open, eta: NoETA, facts: Facts{Breakers: twoOpen},
			cause: "breaker open on https://a.example.com, https://b.example.com; jobs go to fallback"},
		{name: "held over open", samples: stalled, now: at(full), want: Held, eta: NoETA, until: hold,
			facts: Facts{Breakers: twoOpen, Hold: true, HeldUntil: hold},
			cause: "every breaker open (when_open: hold), jobs parked until 12:03:00 UTC: https://a.example.com"},
		{name: "paused over held", samples: stalled, now: at(full), want: Paused, eta: NoETA, until: hold,
			facts: Facts{Breakers: twoOpen, Hold: true, HeldUntil: hold, Paused: &Pause{Until: hold, Why: "429 pause until 12:03:00"}},
			cause: "429 pause until 12:03:00"},
		{name: "paused without a reason", now: at(1), want: Paused, facts: Facts{Paused: &Pause{}}, cause: "paused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := Judge(tc.set, tc.samples, tc.facts, tc.now)
			if v.State != tc.want {
				t.Fatalf("state %s (%s), want %s", v.State, v.Cause, tc.want)
			}
			if !strings.Contains(v.Cause, tc.cause) {
				t.Errorf("cause %q, want it to contain %q", v.Cause, tc.cause)
			}
			if !tc.anyETA && v.ETA != tc.eta {
				t.Errorf("ETA %v, want %v", v.ETA, tc.eta)
			}
			if !v.Until.Equal(tc.until) {
				t.Errorf("until %v, want %v", v.Until, tc.until)
			}
			if tc.wantTrend != nil && !tc.wantTrend(v.Trend) {
				t.Errorf("trend %v", v.Trend)
			}
		})
	}
}

// TestJudgeCounts checks the window's counts and that samples older than
// the window's base are not judged.
func TestJudgeCounts(t *testing.T) {
	t.Parallel()
	s := series(50, func(i int) Sample {
		return Sample{Backlog: 7, Outcomes: uint64(i), Deliveries: uint64(2 * i), Redeliveries: uint64(i / 2), InFlight: i, Buffered: 3}
	})
	v := Judge(Settings{}, s, Facts{}, at(50))
	if v.Span != 2*time.Minute || v.Outcomes != 24 || v.Deliveries != 48 || v.Redeliveries != 12 || v.InFlight != 49 || v.Buffered != 3 {
		t.Errorf("verdict %+v", v)
	}
	if v.Rate != 0.2 || v.ETA != 35*time.Second {
		t.Errorf("rate %v, ETA %v; want 0.2/s and 35s", v.Rate, v.ETA)
	}
}

func TestStates(t *testing.T) {
	t.Parallel()
	if got := strings.Join(Names(), " > "); got != "STOPPED > PAUSED > HELD > OPEN > STALLED > GROWING > OK > UNKNOWN" {
		t.Errorf("precedence %s", got)
	}
	if !slices.IsSortedFunc(States, func(a, b State) int { return int(b) - int(a) }) {
		t.Error("States are not worst first")
	}
	for _, s := range States {
		got, err := ParseState(strings.ToLower(s.String()))
		if err != nil || got != s {
			t.Errorf("ParseState(%s) = %v, %v", s, got, err)
		}
		var u State
		if b, _ := s.MarshalText(); u.UnmarshalText(b) != nil || u != s {
			t.Errorf("text round trip of %s gave %s", s, u)
		}
	}
	if _, err := ParseState("BROKEN"); !errors.Is(err, ErrUnknownState) {
		t.Errorf("ParseState(BROKEN): %v", err)
	}
	if !Stopped.Worse(Paused) || OK.Worse(Growing) || !OK.Worse(Unknown) {
		t.Error("Worse does not follow the precedence")
	}
}

func TestFormatETA(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "-", NoETA: "never", 300 * time.Millisecond: "<1s",
		4*time.Minute + 100*time.Millisecond: "4m1s", 90 * time.Second: "1m30s", 2 * time.Hour: "2h"} {
		if got := FormatETA(d); got != want {
			t.Errorf("FormatETA(%v) = %q, want %q", d, got, want)
		}
	}
}
