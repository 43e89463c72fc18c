package worker

import (
	"sync"
	"testing"
	"time"
)

// TestLaneIdleLongIsNotStuck: a lane whose last run ended an hour ago takes
// the deliveries offered behind its one busy slot (their turn is a run
// away), instead of judging the slot stuck for an hour and parking them;
// a slot busy longer than laneWait still makes the next offer park.
func TestLaneIdleLongIsNotStuck(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	b := newBlockingLane(1, clock)
	defer close(b.release)
	b.lane.mu.Lock() // the lane ran once, an hour ago, in 10ms
	b.runEWMA, b.lastDone = 10*time.Millisecond, now.Add(-time.Hour)
	b.lane.mu.Unlock()

	if v, _ := b.offer(&delivery{}, false); v != taken {
		t.Fatalf("first offer: verdict %d, want taken (a free slot)", v)
	}
	if v, _ := b.offer(&delivery{}, false); v != taken {
		t.Fatalf("offer behind a slot busy for 0s after an idle hour: verdict %d, want taken", v)
	}
	advance(laneWait + time.Second)
	if v, _ := b.offer(&delivery{}, false); v != park {
		t.Fatalf("offer behind a slot busy for %s: verdict %d, want park", laneWait+time.Second, v)
	}
}
