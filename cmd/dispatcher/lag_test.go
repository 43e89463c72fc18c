package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
)

func TestAge(t *testing.T) {
	tests := map[time.Duration]string{
		-time.Second:                   "0s",
		42 * time.Second:               "42s",
		3*time.Minute + 12*time.Second: "3m12s",
		2*time.Hour + 5*time.Minute:    "2h5m",
		76*time.Hour + 30*time.Minute:  "3d4h",
	}
	for d, want := range tests {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDrain(t *testing.T) {
	for d, want := range map[time.Duration]string{300 * time.Millisecond: "<1s", 1500 * time.Millisecond: "2s", 90 * time.Second: "1m30s"} {
		if got := drain(d); got != want {
			t.Errorf("drain(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCheckPending(t *testing.T) {
	lag := &dispatcher.Lag{Targets: []dispatcher.TargetLag{{Target: "a", Pending: 10}, {Target: "b", Pending: 3}}}
	tests := []struct {
		max  int64
		code int
	}{{-1, exitOK}, {10, exitOK}, {9, exitCheck}, {0, exitCheck}}
	for _, tt := range tests {
		err := checkPending(lag, tt.max)
		code := exitOK
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if code != tt.code {
			t.Errorf("max %d: %v, want exit %d", tt.max, err, tt.code)
		}
	}
}

func TestWriteFleet(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	until := at.Add(25 * time.Second)
	lag := &dispatcher.Lag{At: at, Fleet: &dispatcher.FleetView{
		Instances: []dispatcher.FleetInstance{
			{ID: "x1", Instance: "host-a/41", ServiceName: "orders", StartedAt: at.Add(-3 * time.Minute), TargetCount: 2,
				Targets: []dispatcher.FleetLimits{{Target: "orders", Scope: "fleet", Concurrency: 16, PerSecond: 50}}},
			{ID: "x2", Instance: "host-b/7", ServiceName: "orders", StartedAt: at.Add(-42 * time.Second), TargetCount: 10000,
				Targets: []dispatcher.FleetLimits{{Target: "a", Scope: "fleet", Concurrency: 1}}, TargetsOmitted: 250},
		},
		OpenBreakers: []dispatcher.FleetBreaker{{Target: "orders", Endpoint: "https://orders.example.com", State: "open", Until: &until, By: "host-a/41"}},
	}}
	var b strings.Builder
	writeFleet(&b, lag, 0)
	out := b.String()
	for _, want := range []string{
		"FLEET: 2 instance(s) live",
		"INSTANCE", "TARGETS", "FLEET QUOTAS (concurrency, calls/s)",
		"host-a/41", "3m0s", "2 ", "orders 16 50/s\n",
		"host-b/7", "42s", "10000", "a 1, and 250 more",
		"BREAKERS OPEN FOR THE FLEET", "https://orders.example.com", "open", "25s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fleet view lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	writeFleet(&b, &dispatcher.Lag{At: at}, 0)
	if b.Len() != 0 {
		t.Errorf("no fleet view asked for, printed %q", b.String())
	}
}

// lagSample is a reading with a target of each kind, two partitions (one
// without its due consumer), a legacy consumer and orphans.
func lagSample(at time.Time) *dispatcher.Lag {
	k1, k3 := 1, 3
	old := at.Add(-90 * time.Second)
	active := at.Add(-3 * time.Second)
	eta, zero := 250.0, 0.0
	return &dispatcher.Lag{At: at, SubjectPrefix: "dispatch", JobsStream: "DISPATCH_JOBS", PartitionCount: 2,
		Targets: []dispatcher.TargetLag{
			{Target: "payments", Partition: &k1, Pending: 7, LegacyPending: 2, Retrying: 3, Dead: 1, OldestPendingAt: &old, OldestPendingSeconds: 90,
				InFlight: 3, Buffered: 2, Health: &dispatcher.TargetHealth{State: verdict.Growing, Cause: "rate limit 20/s saturated\x1b[2J", ETASeconds: &eta, WindowSeconds: 120}},
			{Target: "search", Partition: &k3, Health: &dispatcher.TargetHealth{State: verdict.OK, Cause: "idle", ETASeconds: &zero}},
		},
		Partitions: []dispatcher.PartitionLag{
			{Partition: 0, Jobs: &dispatcher.ConsumerLag{Stream: "DISPATCH_JOBS", Consumer: "dispatcher-jobs-0", WaitingPulls: 2},
				Due: &dispatcher.ConsumerLag{Stream: "DISPATCH_SCHED", Consumer: "dispatcher-due-0"}},
			{Partition: 1, Jobs: &dispatcher.ConsumerLag{Stream: "DISPATCH_JOBS", Consumer: "dispatcher-jobs-1", Pending: 4, InFlight: 3, Redelivered: 1, Delivered: 40, LastActive: &active}},
		},
		LegacyConsumers: []dispatcher.LegacyConsumerLag{{Target: "payments", ConsumerLag: dispatcher.ConsumerLag{Stream: "DISPATCH_JOBS", Consumer: "dispatch_payments", Pending: 1, InFlight: 1}}},
		Orphans: []dispatcher.Orphan{
			{Subject: "dispatch.jobs.gone", StoredSubject: "dispatch.part.0.gone", Target: "gone", Messages: 2},
			{Subject: "dispatch.jobs.a\x1b[31m.b", StoredSubject: "dispatch.jobs.a\x1b[31m.b", Target: "a\x1b[31m.b", Messages: 1},
		},
	}
}

func TestWriteLag(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	lag := lagSample(at)
	var b strings.Builder
	writeLag(&b, lag, nil, 0)
	out := b.String()
	for _, want := range []string{
		"TARGET    HEALTH   PARTITION  PENDING  IN FLIGHT  BUFFERED  LEGACY  RETRYING  DEAD  FALLBACK  OLDEST  ETA    CAUSE\n",
		"payments  GROWING  1          7        3          2         2       3         1     0         1m30s   4m10s  rate limit 20/s saturated\\x1b[2J\n",
		"search    OK       3          0        0          0         0       0         0     0         -       -      idle\n",
		"PARTITIONS: 2,",
		"PARTITION  CONSUMER           PENDING  UNACKED  REDELIVERED  WAITING  LAST ACTIVE\n",
		"0          dispatcher-jobs-0  0        0        0            2        never\n",
		"1          dispatcher-jobs-1  4        3        1            0        3s ago\n",
		"1          dispatcher-due-1   -        -        -            -        no consumer\n",
		"LEGACY CONSUMERS:",
		"payments  DISPATCH_JOBS  dispatch_payments  1        1",
		"ORPHANS:",
		"SUBJECT                    STORED AS                  JOBS  OLDEST\n",
		"dispatch.jobs.gone         dispatch.part.0.gone       2     -\n",
		`dispatch.jobs.a\x1b[31m.b`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lag view lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("an escape sequence reached the terminal:\n%q", out)
	}

	// No legacy jobs, no legacy consumers, no orphans: no such columns or
	// sections.
	lag.Targets[0].LegacyPending, lag.LegacyConsumers, lag.Orphans = 0, nil, nil
	b.Reset()
	writeLag(&b, lag, nil, 0)
	for _, unwanted := range []string{"LEGACY", "ORPHANS"} {
		if strings.Contains(b.String(), unwanted) {
			t.Errorf("lag view shows %s without any:\n%s", unwanted, b.String())
		}
	}
}

func TestWatchRates(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	prev, lag := lagSample(at.Add(-2*time.Second)), lagSample(at)
	prev.Targets[0].Pending = 11                      // payments: 11 -> 7 in 2s
	prev.Partitions[1].Jobs.Delivered = 30            // 30 -> 40 in 2s
	prev.LegacyConsumers[0].ConsumerLag.Delivered = 0 // stays 0
	r := measure(&history{lags: []*dispatcher.Lag{prev, lag}})
	if r.Pending["payments"] != -2 || r.Pending["search"] != 0 || r.Delivered["dispatcher-jobs-1"] != 5 || r.Delivered["dispatch_payments"] != 0 {
		t.Fatalf("rates %+v", r)
	}
	var b strings.Builder
	writeLag(&b, lag, r, 0)
	out := b.String()
	for _, want := range []string{"NET/S  DRAIN  CAUSE", "-2.0   4s", "+0.0   -", "DELIV/S", "3s ago       5.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("watch view lacks %q:\n%s", want, out)
		}
	}
	lag.Targets[0].Pending = 13
	r = measure(&history{lags: []*dispatcher.Lag{prev, lag}})
	b.Reset()
	writeLag(&b, lag, r, 0)
	if !strings.Contains(b.String(), "+1.0   growing") {
		t.Errorf("watch view of a growing backlog:\n%s", b.String())
	}
	frame, err := json.Marshal(watchFrame(lag, r))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"pending_change_per_second":{"payments":1,"search":0}`, `"delivered_per_second":{`, `"targets":[`, `"partitions":[`} {
		if !strings.Contains(string(frame), want) {
			t.Errorf("watch JSON frame lacks %s:\n%s", want, frame)
		}
	}
	if r := measure(&history{lags: []*dispatcher.Lag{lag}}); len(r.Pending) != 0 || len(r.Delivered) != 0 {
		t.Errorf("rates of a first reading %+v, want none", r)
	}
}

// TestWatchKeepsWindow: a watch keeps its readings over the health window
// between redraws, and NET/S is the trend over all of them, not the last
// interval's change.
func TestWatchKeepsWindow(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	var h history
	for i := range 200 { // one reading a second; the window is 120s
		l := lagSample(at.Add(time.Duration(i) * time.Second))
		l.Targets[0].Pending = uint64(1000 - 2*i + i%2*3) // -2/s, jittering by +3 every other second
		h.add(l)
	}
	if n := len(h.lags); n != 121 {
		t.Errorf("%d readings kept, want 121 (120s of them and the window's base)", n)
	}
	r := measure(&h)
	if p := r.Pending["payments"]; p > -1.99 || p < -2.01 {
		t.Errorf("NET/S payments %v over the window, want -2 (the last interval says %+d)", p, 3)
	}
}

func TestCheckHealth(t *testing.T) {
	lag := lagSample(time.Now())
	lag.Targets = append(lag.Targets, dispatcher.TargetLag{Target: "stuck", Health: &dispatcher.TargetHealth{State: verdict.Stalled, Cause: "no outcome in 2m"}})
	for _, tt := range []struct {
		states []string
		code   int
		msg    string
	}{
		{nil, exitOK, ""},
		{[]string{"STOPPED"}, exitOK, ""},
		{[]string{"stalled", "STOPPED"}, exitCheck, "--fail-on: stuck is STALLED (no outcome in 2m)"},
		{[]string{"GROWING,STALLED"}, exitUsage, "unknown health state"},
		{[]string{"NOPE"}, exitUsage, `unknown health state "NOPE"`},
	} {
		states, err := parseStates(tt.states)
		if err == nil {
			err = checks(checkPending(lag, -1), checkHealth(lag, states))
		}
		code := exitOK
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if code != tt.code || (tt.msg != "" && !strings.Contains(err.Error(), tt.msg)) {
			t.Errorf("--fail-on %v: %v (exit %d), want exit %d with %q", tt.states, err, code, tt.code, tt.msg)
		}
	}
	err := checks(checkPending(lag, 1), checkHealth(lag, map[verdict.State]bool{verdict.Growing: true}))
	if err == nil || !strings.Contains(err.Error(), "payments has 7 pending") || !strings.Contains(err.Error(), "payments is GROWING") {
		t.Errorf("both checks failing: %v", err)
	}
}
