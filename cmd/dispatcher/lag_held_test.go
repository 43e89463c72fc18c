package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
)

func TestWriteLagHeld(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	until := at.Add(25 * time.Second)
	lag := &dispatcher.Lag{At: at, Targets: []dispatcher.TargetLag{
		{Target: "payments", Consumer: "dispatch_payments", Pending: 7, Paused: true, PausedUntil: &until},
		{Target: "search", Consumer: "dispatch_search"},
	}}
	var b strings.Builder
	writeLag(&b, lag, nil, 200)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "HELD") {
		t.Fatalf("table:\n%s\nwant a HELD column", b.String())
	}
	if !strings.HasSuffix(strings.TrimSpace(lines[1]), "25s") || !strings.HasSuffix(strings.TrimSpace(lines[2]), "-") {
		t.Errorf("table:\n%s\nwant payments held 25s, search -", b.String())
	}

	b.Reset()
	lag.Targets[0].Paused, lag.Targets[0].PausedUntil = false, nil
	writeLag(&b, lag, nil, 200)
	if strings.Contains(b.String(), "HELD") {
		t.Errorf("HELD column with no target held:\n%s", b.String())
	}
}
