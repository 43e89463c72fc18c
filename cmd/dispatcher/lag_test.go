package main

import (
	"errors"
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
