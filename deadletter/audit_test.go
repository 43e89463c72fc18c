package deadletter_test

import (
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/audit"
)

// TestAuditFilterRoundTrip reads back the filter audit.Selection records.
func TestAuditFilterRoundTrip(t *testing.T) {
	since := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	f := deadletter.Filter{Targets: []string{"pay"}, Reasons: []string{"exhausted"}, Classes: []string{"http_5xx"},
		Statuses: []deadletter.StatusRange{{Min: 500, Max: 599}, {}}, JobIDs: []string{"j1"}, Seqs: []uint64{7}, Text: "boom", Since: since}
	got := deadletter.AuditFilter(audit.Selection(f, false))
	if got.Describe() != f.Describe() {
		t.Errorf("AuditFilter(Selection(f)) = %s, want %s", got.Describe(), f.Describe())
	}
}
