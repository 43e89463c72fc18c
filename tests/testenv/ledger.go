package testenv

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// LedgerInput is what a conservation count reads.
type LedgerInput struct {
	// IDs are the ids of the jobs published.
	IDs []string
	// Sinks are the HTTP targets whose calls count as deliveries (a call
	// answered 2xx with the client still there).
	Sinks []*Sink
	// Results, when not nil, are the results collected from reply_to; a
	// "delivered" result counts as a delivery (for targets that are not a
	// Sink).
	Results *ResultSet
}

// Ledger is the conservation count of a run: every published job ends up
// in exactly one of Delivered, DeadLettered, Fallback or Missing.
type Ledger struct {
	Published    int
	Delivered    int
	DeadLettered int
	Fallback     int
	Missing      int
	// DuplicateCalls counts the 2xx answers a job got beyond its first
	// (at-least-once after a crash or a lost ack).
	DuplicateCalls int
	// AlsoDeadLettered counts delivered jobs that were dead-lettered too
	// (a 2xx answer whose ack was lost, then failed attempts).
	AlsoDeadLettered int
	// WrongKey counts calls whose Idempotency-Key is not their job's id.
	WrongKey int
	// MissingIDs and WrongKeyCalls list the first few offenders.
	MissingIDs    []string
	WrongKeyCalls []string
}

// JobOfCall is the job a call belongs to: the "job" query parameter of its
// path when present (tests put it there so the key can be checked against
// it), else its Idempotency-Key.
func JobOfCall(c Call) string {
	if u, err := url.ParseRequestURI(c.Path); err == nil {
		if id := u.Query().Get("job"); id != "" {
			return id
		}
	}
	return c.Key
}

// ReadLedger counts the outcome of every job of in: the sinks' calls, the
// dead-letter and fallback streams (all targets) and the results.
func ReadLedger(t testing.TB, js jetstream.JetStream, in LedgerInput) Ledger {
	t.Helper()
	published := make(map[string]bool, len(in.IDs))
	for _, id := range in.IDs {
		published[id] = true
	}
	delivered := map[string]int{}
	var l Ledger
	for _, s := range in.Sinks {
		for _, c := range s.Calls() {
			job := JobOfCall(c)
			if c.Key != job {
				l.WrongKey++
				if len(l.WrongKeyCalls) < 10 {
					l.WrongKeyCalls = append(l.WrongKeyCalls, fmt.Sprintf("%s key %q", c.Path, c.Key))
				}
			}
			if !c.Finished.IsZero() && c.Status >= 200 && c.Status < 300 && !c.ClientGone {
				delivered[job]++
			}
		}
	}
	if in.Results != nil {
		for _, r := range in.Results.All() {
			if r.Outcome == schemas.OutcomeDelivered && delivered[r.JobID] == 0 {
				delivered[r.JobID] = 1
			}
		}
	}
	dead := map[string]bool{}
	for _, r := range DeadLetters(t, js, "") {
		dead[r.Header.Get(schemas.HeaderJobID)] = true
	}
	fallback := map[string]bool{}
	for _, r := range Fallbacks(t, js, "") {
		fallback[fallbackJobID(r)] = true
	}
	for _, id := range in.IDs {
		l.Published++
		switch {
		case delivered[id] > 0:
			l.Delivered++
			l.DuplicateCalls += delivered[id] - 1
			if dead[id] {
				l.AlsoDeadLettered++
			}
		case dead[id]:
			l.DeadLettered++
		case fallback[id]:
			l.Fallback++
		default:
			l.Missing++
			if len(l.MissingIDs) < 10 {
				l.MissingIDs = append(l.MissingIDs, id)
			}
		}
	}
	sort.Strings(l.MissingIDs)
	return l
}

// fallbackJobID is the id of the job of a fallback record.
func fallbackJobID(r Record[schemas.Fallback]) string {
	if id := r.Header.Get(schemas.HeaderJobID); id != "" {
		return id
	}
	var j struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(r.Rec.Job, &j)
	return j.ID
}

// String is the one-line summary a chaos test logs.
func (l Ledger) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger: %d published, %d delivered, %d dead-lettered, %d fallback, %d missing, %d duplicate calls",
		l.Published, l.Delivered, l.DeadLettered, l.Fallback, l.Missing, l.DuplicateCalls)
	if l.WrongKey == 0 {
		b.WriteString(" (same Idempotency-Key)")
	} else {
		fmt.Fprintf(&b, " (%d calls with a wrong Idempotency-Key)", l.WrongKey)
	}
	if l.AlsoDeadLettered > 0 {
		fmt.Fprintf(&b, ", %d delivered and also dead-lettered", l.AlsoDeadLettered)
	}
	return b.String()
}

// Check logs the ledger line and fails the test when a job is missing or a
// call carried another job's Idempotency-Key.
func (l Ledger) Check(t testing.TB) {
	t.Helper()
	t.Log(l.String())
	if l.Missing != 0 {
		t.Errorf("%d jobs missing (first: %v)", l.Missing, l.MissingIDs)
	}
	if l.WrongKey != 0 {
		t.Errorf("%d calls with a wrong Idempotency-Key (first: %v)", l.WrongKey, l.WrongKeyCalls)
	}
}
