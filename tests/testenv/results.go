package testenv

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
)

// ResultSet collects the results published on a core NATS subject.
type ResultSet struct {
	mu   sync.Mutex
	all  []schemas.Result
	raw  [][]byte
	bad  []string
	byID map[string][]schemas.Result
}

// Results subscribes to subject on nc (flushing, so nothing published after
// it returns is missed) and collects every result until cleanup.
func Results(t testing.TB, nc *nats.Conn, subject string) *ResultSet {
	t.Helper()
	rs := &ResultSet{byID: map[string][]schemas.Result{}}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var r schemas.Result
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if err := json.Unmarshal(m.Data, &r); err != nil {
			rs.bad = append(rs.bad, string(m.Data))
			return
		}
		rs.all = append(rs.all, r)
		rs.raw = append(rs.raw, m.Data)
		rs.byID[r.JobID] = append(rs.byID[r.JobID], r)
	})
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return rs
}

// Len is the number of results received.
func (rs *ResultSet) Len() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.all)
}

// All returns a copy of the results in arrival order.
func (rs *ResultSet) All() []schemas.Result {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]schemas.Result(nil), rs.all...)
}

// Raw returns the payloads of the results as received.
func (rs *ResultSet) Raw() [][]byte {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([][]byte(nil), rs.raw...)
}

// Undecodable returns the payloads that were not a JSON result.
func (rs *ResultSet) Undecodable() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.bad...)
}

// ByID returns the results of job id, in arrival order.
func (rs *ResultSet) ByID(id string) []schemas.Result {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]schemas.Result(nil), rs.byID[id]...)
}

// Distinct is the number of distinct job ids with a result.
func (rs *ResultSet) Distinct() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.byID)
}
