package worker

import (
	"testing"
	"time"
)

type countObserver struct {
	nopObserver
	n int
}

func (c *countObserver) AttemptDone(string, string, int, string, time.Duration) { c.n++ }

// TestTee: every observer hears every event; nils are dropped.
func TestTee(t *testing.T) {
	a, b := &countObserver{}, &countObserver{}
	o := Tee(a, nil, b)
	o.AttemptDone("t", "e", 200, "", time.Millisecond)
	o.AttemptStarted("t", "e")
	if a.n != 1 || b.n != 1 {
		t.Fatalf("counts %d %d, want 1 1", a.n, b.n)
	}
	if got := Tee(nil, a); got != Observer(a) {
		t.Errorf("Tee of one observer = %T, want it as is", got)
	}
	if _, ok := Tee().(nopObserver); !ok {
		t.Errorf("Tee of none is not the no-op observer")
	}
}
