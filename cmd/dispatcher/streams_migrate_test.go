package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
)

// TestMigrateRefusal: a refusal exits with exitRefused and says that
// nothing changed; the dry run shows it escaped (an instance's name comes
// from its heartbeat).
func TestMigrateRefusal(t *testing.T) {
	ref := &dispatcher.MigrationRefusal{Live: []dispatcher.FleetInstance{{Instance: "host\x1b[2J/1"}}, Unsettled: []uint64{7}}
	err := refusedErr(ref)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitRefused || !strings.HasSuffix(err.Error(), "nothing changed") {
		t.Fatalf("refusedErr: %v", err)
	}
	if !strings.Contains(err.Error(), "1 dispatcher instance(s) live") || !strings.Contains(err.Error(), "(sequence 7…)") {
		t.Errorf("refusal: %v", err)
	}
	var out strings.Builder
	writeMigratePlan(&out, schemas.Topology{Prefix: "dispatch"}, &dispatcher.MigrationCheck{Stage: dispatcher.MigrationPending, Refusal: ref},
		dispatcher.MigrationCounts{Jobs: 3, RetryCopies: 1})
	if s := out.String(); strings.Contains(s, "\x1b") || !strings.Contains(s, `host\x1b[2J/1`) || !strings.Contains(s, "it would be refused now") {
		t.Errorf("dry run:\n%s", s)
	}
}
