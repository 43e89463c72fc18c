package worker

import (
	"testing"
	"time"
)

func TestRetryBudget(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	b := newRetryBudget(RetryPolicy{BudgetRatio: 0.2})
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
	var b *retryBudget = newRetryBudget(RetryPolicy{BudgetRatio: 0.2, NoBudget: true})
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
