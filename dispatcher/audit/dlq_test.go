package audit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/schemas"
)

// TestReplayRecord: what a replay's audit record says of its run.
func TestReplayRecord(t *testing.T) {
	flt := deadletter.Filter{Targets: []string{"payments"}, Statuses: []deadletter.StatusRange{{Min: 500, Max: 599}}, Since: time.Unix(100, 0)}
	cases := []struct {
		name        string
		rep         deadletter.ReplayReport
		err         error
		interrupted bool
		result      string
		errText     string
	}{
		{"all replayed", deadletter.ReplayReport{Replayed: 5}, nil, false, schemas.AuditOK, ""},
		{"skips are dealt with", deadletter.ReplayReport{Replayed: 3, Skipped: 2}, nil, false, schemas.AuditOK, ""},
		{"some failed", deadletter.ReplayReport{Replayed: 3, Failed: 2}, nil, false, schemas.AuditPartial, "2 failed"},
		{"interrupted", deadletter.ReplayReport{Replayed: 1}, nil, true, schemas.AuditPartial, "interrupted after 1 of 5"},
		{"store failed first", deadletter.ReplayReport{}, errors.New("boom"), false, schemas.AuditFailed, "boom"},
	}
	for _, c := range cases {
		e := audit.ReplayRecord(flt, false, 5, c.rep, c.err, c.interrupted)
		if e.Result != c.result || e.Error != c.errText || e.Count != c.rep.Replayed || e.Selected != 5 || e.Action != schemas.AuditReplay {
			t.Errorf("%s: %+v, want result %s, error %q", c.name, e, c.result, c.errText)
		}
		if s := e.Selection; len(s.Targets) != 1 || len(s.Statuses) != 1 || s.Statuses[0] != "5xx" || s.Since == nil || s.All {
			t.Errorf("%s: selection %+v", c.name, s)
		}
	}
}
