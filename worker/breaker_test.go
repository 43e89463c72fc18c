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
