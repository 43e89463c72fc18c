package worker

import (
	"testing"
	"time"
)

func TestRetryBudget(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	b := newRetryBudget(RetryPolicy{BudgetRatio: 0.2}, 30*time.Second)
	// The floor: a quiet target still gets RetryBudgetFloor retries.
	for i := range RetryBudgetFloor {
		if ok, _ := b.allowRetry(now); !ok {
			t.Fatalf("retry %d refused under the floor", i+1)
		}
	}
	ok, next := b.allowRetry(now)
	if ok {
		t.Fatal("retry over the floor allowed with no calls")
	}
	if want := now.Add(budgetBucket); !next.Equal(want) {
		t.Errorf("postponed to %v, want the next bucket %v", next, want)
	}
	// 5000 calls: 20% of them may be retries (the floor's already used).
	for range 5000 {
		b.call(now.Add(time.Second))
	}
	allowed := 0
	for range 1000 {
		if ok, _ := b.allowRetry(now.Add(2 * time.Second)); ok {
			allowed++
		}
	}
	// (r+1) <= 0.2*(5000+1) holds up to r = 999: 1000 retries in all.
	if want := 1000 - RetryBudgetFloor; allowed != want {
		t.Errorf("%d retries allowed after 5000 calls at ratio 0.2 (%d used), want %d", allowed, RetryBudgetFloor, want)
	}
	// A minute later the window has slid past all of it.
	later := now.Add(budgetBucket * budgetBuckets)
	if c, r := b.sums(later); c != 0 || r != 0 {
		t.Errorf("window a minute later holds %d calls and %d retries, want none", c, r)
	}
	if ok, _ := b.allowRetry(later); !ok {
		t.Error("retry refused once the window slid on")
	}
}

func TestRetryBudgetNone(t *testing.T) {
	var b *retryBudget = newRetryBudget(RetryPolicy{BudgetRatio: 0.2, NoBudget: true}, 30*time.Second)
	if b != nil {
		t.Fatal("negative ratio built a budget")
	}
	for range 1000 {
		if ok, _ := b.allowRetry(time.Now()); !ok {
			t.Fatal("no budget refused a retry")
		}
	}
	b.call(time.Now())
}

// TestRetryBudgetJudgesHealth: past the floor and the ratio, a retry is
// still allowed while the target is healthy — most completed calls answered,
// promptly — and refused when it is not.
func TestRetryBudgetJudgesHealth(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		name             string
		answered, failed int
		took             time.Duration
		wantRetryAllowed bool
	}{
		{"flaky but fast (80% answered, 10ms)", 80, 20, 10 * time.Millisecond, true},
		{"half answered", 50, 50, 10 * time.Millisecond, true},
		{"mostly failing (40% answered)", 40, 60, 10 * time.Millisecond, false},
		{"down (nothing answered)", 0, 100, 5 * time.Millisecond, false},
		{"answered but slow (mean 20s of a 30s total)", 100, 0, 20 * time.Second, false},
		{"too few calls to judge (10)", 10, 0, 10 * time.Millisecond, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newRetryBudget(RetryPolicy{BudgetRatio: 0.2}, 30*time.Second)
			for range c.answered {
				b.call(now)
				b.done(now, true, c.took)
			}
			for range c.failed {
				b.call(now)
				b.done(now, false, c.took)
			}
			// Use up the floor and the ratio.
			for range RetryBudgetFloor + 100 {
				b.allowRetry(now)
			}
			ok, _ := b.allowRetry(now)
			if ok != c.wantRetryAllowed {
				t.Errorf("retry allowed %v past the floor and ratio, want %v", ok, c.wantRetryAllowed)
			}
		})
	}
}
