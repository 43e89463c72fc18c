package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
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
