package worker

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// switchRecorder records EndpointSwitched calls.
type switchRecorder struct {
	nopObserver
	mu       sync.Mutex
	switches [][2]string
}

func (r *switchRecorder) EndpointSwitched(_, from, to string) {
	r.mu.Lock()
	r.switches = append(r.switches, [2]string{from, to})
	r.mu.Unlock()
}

func TestFailoverPickAndReturn(t *testing.T) {
	tg := Target{Name: "a", Endpoints: []string{"http://primary", "http://backup"},
		Breaker: BreakerPolicy{ConsecutiveFailures: 2, OpenTimeout: 50 * time.Millisecond, HalfOpenRequests: 1}}.withDefaults()
	obs := &switchRecorder{}
	w := &Worker{t: tg, o: options{log: zap.NewNop(), obs: obs}}
	w.breakers = newBreakers(tg, zap.NewNop(), obs, nil, time.Now, nil)
	call := func(fail bool) int {
		b, i, done := pickEndpoint(w.breakers, time.Now())
		if b == nil {
			t.Fatal("no endpoint let the call through")
		}
		w.noteEndpoint(i)
		if fail && i == 0 {
			done(errBreakerFailure)
		} else {
			done(nil)
		}
		return i
	}
	if i := call(true); i != 0 {
		t.Fatalf("first call to endpoint %d, want the primary", i)
	}
	call(true) // trips the primary
	if i := call(false); i != 1 {
		t.Fatalf("call with the primary open went to %d, want the backup", i)
	}
	awaitHalfOpen(t, w.breakers[0])
	if i := call(false); i != 0 {
		t.Fatalf("probe went to %d, want the primary (half-open)", i)
	}
	if i := call(false); i != 0 {
		t.Fatalf("call after a good probe went to %d, want the primary", i)
	}
	want := [][2]string{{"http://primary", "http://backup"}, {"http://backup", "http://primary"}}
	if len(obs.switches) != 2 || obs.switches[0] != want[0] || obs.switches[1] != want[1] {
		t.Errorf("switches %v, want %v", obs.switches, want)
	}
}
