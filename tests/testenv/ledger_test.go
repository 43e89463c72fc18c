package testenv

import (
	"net/http"
	"strings"
	"testing"
)

// TestLedger counts a small run by hand: a job delivered twice, one
// dead-lettered, one missing, and a call whose key is not its job's.
func TestLedger(t *testing.T) {
	b := NewBroker(t)
	EnsureStreams(t, b.JS)
	PutDeadLetters(t, b.JS, "a", []string{"dead"})
	sink := NewSink(t)
	call := func(job, key string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, sink.URL+"/x?job="+job, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	call("twice", "twice")
	call("twice", "twice")
	call("wrong", "other")

	l := ReadLedger(t, b.JS, LedgerInput{IDs: []string{"twice", "wrong", "dead", "lost"}, Sinks: []*Sink{sink}})
	want := Ledger{Published: 4, Delivered: 2, DeadLettered: 1, Missing: 1, DuplicateCalls: 1, WrongKey: 1}
	if l.Published != want.Published || l.Delivered != want.Delivered || l.DeadLettered != want.DeadLettered ||
		l.Missing != want.Missing || l.DuplicateCalls != want.DuplicateCalls || l.WrongKey != want.WrongKey {
		t.Errorf("got %s (wrong keys %d), want %s", l, l.WrongKey, want)
	}
	if len(l.MissingIDs) != 1 || l.MissingIDs[0] != "lost" {
		t.Errorf("missing ids %v, want [lost]", l.MissingIDs)
	}
	if s := l.String(); !strings.HasPrefix(s, "ledger: 4 published, 2 delivered, 1 dead-lettered, 0 fallback, 1 missing, 1 duplicate calls (1 calls with a wrong Idempotency-Key)") {
		t.Errorf("String() = %q", s)
	}
}
