package worker

import (
	"sync"
	"testing"
	"time"
)

// blockingLane is a lane whose runs block until release is closed, counting
// the runs under way.
type blockingLane struct {
	*lane
	release chan struct{}
	mu      sync.Mutex
	running int
	most    int
}

func newBlockingLane(limit int, now func() time.Time) *blockingLane {
	b := &blockingLane{release: make(chan struct{})}
	b.lane = newLane(limit, time.Second, now, func(*delivery, *job) bool {
		b.mu.Lock()
		b.running++
		b.most = max(b.most, b.running)
		b.mu.Unlock()
		<-b.release
		b.mu.Lock()
		b.running--
		b.mu.Unlock()
		return false
	})
	b.rampStep = time.Hour // the test ticks the ramp itself
	return b
}

func (b *blockingLane) runs() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// TestPausedLaneParksOffers: a paused lane takes no delivery offered by an
// intake (the verdict says park it), takes a redelivery (admit looks for
// its settle marker first, then parks it), and takes deliveries again once
// resumed.
func TestPausedLaneParksOffers(t *testing.T) {
	b := newBlockingLane(4, time.Now)
	defer close(b.release)
	b.pause(Pause{})
	if v, _ := b.offer(&delivery{}, false); v != paused {
		t.Fatalf("offer to a paused lane: verdict %d, want paused", v)
	}
	if v, _ := b.offer(&delivery{}, true); v != taken {
		t.Fatalf("forced offer to a paused lane: verdict %d, want taken", v)
	}
	if !b.resume() {
		t.Fatal("resume of a paused lane reported no pause")
	}
	if b.resume() {
		t.Fatal("a second resume reported a pause")
	}
	if v, _ := b.offer(&delivery{}, false); v != taken {
		t.Fatalf("offer to a resumed lane: verdict %d, want taken", v)
	}
}

// TestPauseDue: a copy parked by a pause is due at its end when that comes
// first, else after as long as the pause has lasted, within
// [minPauseDelay, maxParkDelay], plus at most a tenth.
func TestPauseDue(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	cases := []struct {
		name     string
		p        Pause
		min, max time.Duration
	}{
		{"open, just begun", Pause{Since: now}, minPauseDelay, minPauseDelay * 11 / 10},
		{"open, 40s old", Pause{Since: now.Add(-40 * time.Second)}, 40 * time.Second, 44 * time.Second},
		{"open, a day old", Pause{Since: now.Add(-24 * time.Hour)}, maxParkDelay, maxParkDelay * 11 / 10},
		{"ends in 3s", Pause{Until: now.Add(3 * time.Second), Since: now}, 3 * time.Second, 3300 * time.Millisecond},
		{"ends in 1h, an hour old", Pause{Until: now.Add(time.Hour), Since: now.Add(-time.Hour)}, maxParkDelay, maxParkDelay * 11 / 10},
		{"since in the future: now", Pause{Since: now.Add(time.Hour)}, minPauseDelay, minPauseDelay * 11 / 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLane(4, time.Second, clock, nil)
			defer l.close()
			l.pause(c.p)
			for range 50 {
				at, ok := l.pauseDue(now)
				if !ok {
					t.Fatal("not paused")
				}
				if d := at.Sub(now); d < c.min || d > c.max {
					t.Fatalf("due in %s, want within [%s, %s]", d, c.min, c.max)
				}
			}
		})
	}
	l := newLane(4, time.Second, clock, nil)
	if _, ok := l.pauseDue(now); ok {
		t.Error("a lane never paused has a pause due")
	}
	if began, _ := l.pause(Pause{Until: now.Add(-time.Second)}); began {
		t.Error("a pause that has ended began")
	}
}

// TestPauseEndsByItself: a pause with an end resumes the lane at its end,
// once, telling onResume; a pause replaced before its end does not end the
// one that replaced it.
func TestPauseEndsByItself(t *testing.T) {
	l := newLane(16, time.Second, time.Now, nil)
	defer l.close()
	resumed := make(chan struct{}, 4)
	l.onResume = func() { resumed <- struct{}{} }
	l.pause(Pause{Until: time.Now().Add(50 * time.Millisecond)})
	l.pause(Pause{Until: time.Now().Add(300 * time.Millisecond)}) // replaces it
	select {
	case <-resumed:
		t.Fatal("resumed at the end of a pause that was replaced")
	case <-time.After(150 * time.Millisecond):
	}
	if _, on := l.pauseNow(time.Now()); !on {
		t.Fatal("not paused before the end of the pause")
	}
	select {
	case <-resumed:
	case <-time.After(2 * time.Second):
		t.Fatal("the pause did not end by itself")
	}
	if _, on := l.pauseNow(time.Now()); on {
		t.Fatal("still paused after the end")
	}
	l.mu.Lock()
	slots := l.slots()
	l.mu.Unlock()
	if slots != rampFirst(16) {
		t.Errorf("slots after the end of the pause: %d, want the ramp's first %d", slots, rampFirst(16))
	}
}

// TestResumeRampsUp: a resumed lane of 32 slots runs 2, then 4, 8, 16 and
// 32 deliveries at once, one step of the ramp after the other.
func TestResumeRampsUp(t *testing.T) {
	b := newBlockingLane(32, time.Now)
	defer close(b.release)
	b.pause(Pause{})
	b.resume()
	for range 64 {
		if v, _ := b.offer(&delivery{}, true); v != taken {
			t.Fatalf("offer: verdict %d", v)
		}
	}
	var profile []int
	for step := 0; ; step++ {
		want := min(rampFirst(32)<<step, 32)
		waitFor(t, func() bool { return b.runs() == want })
		profile = append(profile, b.runs())
		if want == 32 {
			break
		}
		b.rampTick()
	}
	if b.most != 32 {
		t.Errorf("at most %d at once, want 32", b.most)
	}
	b.mu.Lock()
	ramp := b.ramp
	b.mu.Unlock()
	if ramp != 0 {
		t.Errorf("ramp %d after reaching the limit, want 0 (done)", ramp)
	}
	t.Logf("runs at once, step by step: %v", profile)
}

// TestPauseStopsTheRamp: a pause during a ramp stops it; the resume after
// starts it again from the first step.
func TestPauseStopsTheRamp(t *testing.T) {
	l := newLane(64, time.Second, time.Now, nil)
	defer l.close()
	l.rampStep = time.Hour
	l.pause(Pause{})
	l.resume()
	l.rampTick()
	l.pause(Pause{})
	l.mu.Lock()
	if l.ramp != 0 || l.slots() != 64 {
		t.Errorf("paused during a ramp: ramp %d, slots %d; want 0, 64", l.ramp, l.slots())
	}
	l.mu.Unlock()
	l.resume()
	l.mu.Lock()
	if l.slots() != rampFirst(64) {
		t.Errorf("resumed: slots %d, want %d", l.slots(), rampFirst(64))
	}
	l.mu.Unlock()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
