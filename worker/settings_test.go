package worker

import (
	"reflect"
	"testing"
	"time"
)

// TestZeroValuesTakeDefaultTarget holds the two ways of getting the
// defaults to one source: a zero Target resolves to DefaultTarget (but for
// Randomization, whose zero means no jitter in Go).
func TestZeroValuesTakeDefaultTarget(t *testing.T) {
	got := Target{}.withDefaults()
	want := DefaultTarget()
	want.Retry.Randomization = 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Target{}.withDefaults() =\n  %+v\nDefaultTarget() =\n  %+v", got, want)
	}
	if b := newRetryBudget(got.Retry, got.Timeouts.Total); b == nil || b.ratio != DefaultRetryBudgetRatio {
		t.Errorf("a zero RetryPolicy has budget %+v, want the default ratio %v", b, DefaultRetryBudgetRatio)
	}
	if newRetryBudget(RetryPolicy{NoBudget: true}.withDefaults(), time.Second) != nil {
		t.Error("NoBudget kept a budget")
	}
}
