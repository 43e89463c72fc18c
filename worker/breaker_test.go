package worker

import (
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestBreakerChangeLogNamesTargetOnce: the worker's logger already carries
// the target, so a breaker's transition log names it once, not twice (zap
// writes a repeated key twice into the JSON line).
func TestBreakerChangeLogNamesTargetOnce(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	tg := Target{Name: "pay", Endpoints: []string{"http://primary"}, Breaker: BreakerPolicy{ConsecutiveFailures: 1}}
	w, err := New(tg, Security{}, noJetStream{}, noRecorder{}, WithLogger(zap.New(core)))
	if err != nil {
		t.Fatal(err)
	}
	_, _, done := pickEndpoint(w.breakers, time.Now())
	done(errBreakerFailure) // opens
	entries := logs.FilterMessage("breaker state change").All()
	if len(entries) != 1 {
		t.Fatalf("%d breaker state change entries, want 1", len(entries))
	}
	n := 0
	for _, f := range entries[0].Context {
		if f.Key == "target" {
			n++
			if f.String != "pay" {
				t.Errorf("target %q, want pay", f.String)
			}
		}
	}
	if n != 1 {
		t.Errorf("target field %d times in %v, want once", n, entries[0].Context)
	}
}

// awaitHalfOpen waits until b's open timeout has passed and it lets a probe
// through. gobreaker takes no clock, so this waits on the real one.
func awaitHalfOpen(t *testing.T, b *endpointBreaker) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.cb.State() != gobreaker.StateHalfOpen {
		if time.Now().After(deadline) {
			t.Fatalf("breaker of %s still %s after 5s, want half-open", b.endpoint, b.cb.State())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBreakerRatioRule holds the ratio rule to completed calls that count:
// calls still in flight and excluded answers (4xx, SSRF) do not dilute it;
// min_requests and the window bound it.
func TestBreakerRatioRule(t *testing.T) {
	policy := BreakerPolicy{ConsecutiveFailures: 100, FailureRatio: 0.5, MinRequests: 4, Window: time.Minute}
	newBreaker := func(p BreakerPolicy) *endpointBreaker {
		tg := Target{Name: "a", Endpoints: []string{"http://a"}, Breaker: p}.withDefaults()
		return newBreakers(tg, zap.NewNop(), nopObserver{}, nil, time.Now, nil)[0]
	}
	allow := func(t *testing.T, b *endpointBreaker) func(error) {
		t.Helper()
		done, err := b.cb.Allow()
		if err != nil {
			t.Fatalf("breaker refused a call: %v", err)
		}
		return done
	}
	t.Run("in-flight calls do not dilute the ratio", func(t *testing.T) {
		b := newBreaker(policy)
		var pending []func(error)
		for range 10 {
			pending = append(pending, allow(t, b))
		}
		pending[0](nil)
		pending[1](nil)
		pending[2](errBreakerFailure)
		pending[3](errBreakerFailure) // 2 of 4 completed calls failed
		if s := b.cb.State(); s != gobreaker.StateOpen {
			t.Errorf("state %s after 2 failures of 4 completed calls (6 in flight), want open", s)
		}
	})
	t.Run("excluded answers do not dilute the ratio", func(t *testing.T) {
		b := newBreaker(policy)
		for range 10 {
			allow(t, b)(errBreakerExcluded)
		}
		allow(t, b)(nil)
		allow(t, b)(nil)
		allow(t, b)(errBreakerFailure)
		allow(t, b)(errBreakerFailure)
		if s := b.cb.State(); s != gobreaker.StateOpen {
			t.Errorf("state %s after 2 failures of 4 counted calls (10 excluded), want open", s)
		}
	})
	t.Run("below min_requests the ratio does not trip", func(t *testing.T) {
		b := newBreaker(policy)
		for range 3 {
			allow(t, b)(errBreakerFailure)
		}
		if s := b.cb.State(); s != gobreaker.StateClosed {
			t.Fatalf("state %s after 3 failures with min_requests 4, want closed", s)
		}
		allow(t, b)(errBreakerFailure)
		if s := b.cb.State(); s != gobreaker.StateOpen {
			t.Errorf("state %s after the 4th failure, want open", s)
		}
	})
	t.Run("below the ratio stays closed", func(t *testing.T) {
		b := newBreaker(policy)
		for i := range 21 {
			if i%3 == 2 {
				allow(t, b)(errBreakerFailure)
			} else {
				allow(t, b)(nil)
			}
		}
		if s := b.cb.State(); s != gobreaker.StateClosed {
			t.Errorf("state %s at a 33%% failure ratio, want closed", s)
		}
	})
	t.Run("the window forgets old failures", func(t *testing.T) {
		// gobreaker takes no clock: a short window on the real one.
		p := policy
		p.Window = 200 * time.Millisecond
		b := newBreaker(p)
		for range 3 {
			allow(t, b)(errBreakerFailure)
		}
		deadline := time.Now().Add(5 * time.Second)
		for b.cb.State() == gobreaker.StateClosed && b.cb.Counts().TotalFailures != 0 {
			if time.Now().After(deadline) {
				t.Fatal("counts not cleared 5s after a 200ms window")
			}
			time.Sleep(10 * time.Millisecond)
		}
		allow(t, b)(errBreakerFailure)
		if s := b.cb.State(); s != gobreaker.StateClosed {
			t.Errorf("state %s: 1 failure in the new window tripped it (3 were in the old)", s)
		}
	})
}
