package worker

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/jetdispatch/dispatcher/schemas"
)

// shareRecorder records what a worker's breakers tell the fleet.
type shareRecorder struct {
	mu  sync.Mutex
	got []string
}

func (r *shareRecorder) Share(target, endpoint string, state schemas.BreakerState, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, target+" "+endpoint+" "+state.String())
}

func TestAdoptedBreakerIsSkippedUntilClosed(t *testing.T) {
	tg := Target{Name: "a", Endpoints: []string{"http://primary", "http://backup"}}.withDefaults()
	w := &Worker{t: tg, o: options{log: zap.NewNop(), obs: nopObserver{}, now: time.Now}}
	w.breakers = newBreakers(tg, zap.NewNop(), nopObserver{}, nil, time.Now, nil)

	pick := func() int {
		b, i, done := pickEndpoint(w.breakers, time.Now())
		if b == nil {
			return -1
		}
		done(nil)
		return i
	}
	if i := pick(); i != 0 {
		t.Fatalf("before adoption: endpoint %d, want the primary", i)
	}
	w.AdoptBreaker("http://primary", "open", time.Now().Add(time.Hour))
	if i := pick(); i != 1 {
		t.Fatalf("primary open elsewhere: endpoint %d, want the backup", i)
	}
	if s := w.breakers[0].stateName(time.Now()); s != "open" {
		t.Errorf("primary state %q, want open", s)
	}
	w.AdoptBreaker("http://backup", "half_open", time.Now().Add(time.Hour))
	if i := pick(); i != -1 {
		t.Fatalf("both open elsewhere: endpoint %d, want none", i)
	}
	if d := holdFor(w.breakers, time.Now()); d < 59*time.Minute || d > time.Hour {
		t.Errorf("hold for %s, want the hour another instance keeps them open", d)
	}
	w.AdoptBreaker("http://primary", "closed", time.Time{})
	if i := pick(); i != 0 {
		t.Fatalf("primary closed elsewhere: endpoint %d, want the primary", i)
	}
	// An open state that already expired is not adopted.
	w.AdoptBreaker("http://primary", "open", time.Now().Add(-time.Second))
	if i := pick(); i != 0 {
		t.Fatalf("expired open state: endpoint %d, want the primary", i)
	}
	// Unknown endpoints change nothing.
	w.AdoptBreaker("http://elsewhere", "open", time.Now().Add(time.Hour))
	if i := pick(); i != 0 {
		t.Fatalf("unknown endpoint adopted: endpoint %d, want the primary", i)
	}
}

func TestLocalTransitionsAreShared(t *testing.T) {
	tg := Target{Name: "a", Endpoints: []string{"http://primary"},
		Breaker: BreakerPolicy{ConsecutiveFailures: 1, OpenTimeout: 20 * time.Millisecond}}.withDefaults()
	rec := &shareRecorder{}
	bs := newBreakers(tg, zap.NewNop(), nopObserver{}, rec, time.Now, nil)
	_, _, done := pickEndpoint(bs, time.Now())
	done(errBreakerFailure) // opens
	awaitHalfOpen(t, bs[0])
	_, _, done = pickEndpoint(bs, time.Now())
	done(nil) // the probe succeeds: closed
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []string{"a http://primary open", "a http://primary half_open", "a http://primary closed"}
	if len(rec.got) != len(want) {
		t.Fatalf("shared %q, want %q", rec.got, want)
	}
	for i := range want {
		if rec.got[i] != want[i] {
			t.Fatalf("shared %q, want %q", rec.got, want)
		}
	}
}

func TestShareUntil(t *testing.T) {
	tg := Target{Name: "a", Endpoints: []string{"http://x"}}.withDefaults()
	now := time.Unix(1000, 0)
	if got := shareUntil(tg, "open", now); !got.Equal(now.Add(tg.Breaker.OpenTimeout)) {
		t.Errorf("open until %s, want now + open_timeout", got)
	}
	if got := shareUntil(tg, "half_open", now); !got.Equal(now.Add(tg.Timeouts.Total + time.Second)) {
		t.Errorf("half_open until %s, want now + total + 1s", got)
	}
	if got := shareUntil(tg, "closed", now); !got.IsZero() {
		t.Errorf("closed until %s, want zero", got)
	}
}

func TestFleetQuotaIsExact(t *testing.T) {
	for _, c := range []struct{ total, n int }{{10, 3}, {32, 2}, {1, 4}, {7, 7}, {100, 1}} {
		sum := 0
		for r := range c.n {
			s := fleetQuota(c.total, c.n, r)
			if s < 1 {
				t.Fatalf("share(%d,%d,%d)=%d, want at least 1", c.total, c.n, r, s)
			}
			sum += s
		}
		if want := max(c.total, c.n); sum != want {
			t.Errorf("shares of %d over %d sum to %d, want %d", c.total, c.n, sum, want)
		}
	}
}

func TestSetFleetSizeSplitsLimits(t *testing.T) {
	mk := func(scope string) *Worker {
		tg := Target{Name: "a", Endpoints: []string{"http://x"}, Concurrency: 10, LimitScope: scope,
			RateLimit: &RateLimit{PerSecond: 90, Burst: 9}}.withDefaults()
		w := &Worker{t: tg, o: options{log: zap.NewNop()}, limiter: rate.NewLimiter(rateLimit(90), 9)}
		w.lane = newLane(10, time.Second, time.Now, func(*delivery, *job) bool { return false })
		return w
	}
	w := mk(LimitScopeFleet)
	w.SetFleetSize(3, 0)
	if c, r := w.Limits(); c != 4 || r != 30 {
		t.Errorf("rank 0 of 3: concurrency %d rate %v, want 4 and 30", c, r)
	}
	if b := w.limiter.Burst(); b != 3 {
		t.Errorf("burst %d, want 3", b)
	}
	w.SetFleetSize(3, 2)
	if c, _ := w.Limits(); c != 3 {
		t.Errorf("rank 2 of 3: concurrency %d, want 3", c)
	}
	w.SetFleetSize(1, 0)
	if c, r := w.Limits(); c != 10 || r != 90 {
		t.Errorf("alone: concurrency %d rate %v, want 10 and 90", c, r)
	}

	inst := mk(LimitScopeInstance)
	inst.SetFleetSize(3, 0)
	if c, r := inst.Limits(); c != 10 || r != 90 {
		t.Errorf("instance scope: concurrency %d rate %v, want the configured 10 and 90", c, r)
	}
}

// BenchmarkPickEndpoint is what a call pays to choose its endpoint: the
// breaker alone, and with the primary held open by another instance (one
// atomic load and a clock read more, then the backup).
func BenchmarkPickEndpoint(b *testing.B) {
	tg := Target{Name: "a", Endpoints: []string{"http://primary", "http://backup"}}.withDefaults()
	for _, c := range []struct {
		name  string
		fleet bool
	}{{"local-only", false}, {"primary-open-on-another-instance", true}} {
		b.Run(c.name, func(b *testing.B) {
			w := &Worker{t: tg, o: options{log: zap.NewNop(), obs: nopObserver{}, now: time.Now}}
			w.breakers = newBreakers(tg, zap.NewNop(), nopObserver{}, nil, time.Now, nil)
			if c.fleet {
				w.AdoptBreaker("http://primary", "open", time.Now().Add(time.Hour))
			}
			b.ReportAllocs()
			for range b.N {
				_, _, done := pickEndpoint(w.breakers, time.Now())
				done(nil)
			}
		})
	}
}

// An endpoint's breaker names it by its display form to the observer and the
// fleet; AdoptBreaker takes either form.
func TestBreakersNameEndpointsByDisplayForm(t *testing.T) {
	primary, backup := "http://h.example.com/in?token=tok-A", "http://h.example.com/in?token=tok-B"
	tg := Target{Name: "a", Endpoints: []string{primary, backup}}.withDefaults()
	tg.Breaker.ConsecutiveFailures = 1
	share := &shareRecorder{}
	w := &Worker{t: tg, o: options{log: zap.NewNop(), obs: nopObserver{}, now: time.Now}}
	w.breakers = newBreakers(tg, zap.NewNop(), nopObserver{}, share, time.Now, nil)
	if w.breakers[0].shown == w.breakers[1].shown {
		t.Fatalf("two endpoints differing in their token share the display form %q", w.breakers[0].shown)
	}
	_, _, done := pickEndpoint(w.breakers, time.Now())
	done(errBreakerFailure)
	want := "a " + schemas.DisplayEndpoint(primary) + " open"
	if len(share.got) != 1 || share.got[0] != want {
		t.Errorf("shared %q, want [%q]", share.got, want)
	}
	for _, form := range []string{schemas.DisplayEndpoint(backup), backup} {
		w.AdoptBreaker(form, schemas.BreakerOpen, time.Now().Add(time.Hour))
		if open, _ := w.breakers[1].fleetOpen(time.Now().UnixNano()); !open {
			t.Errorf("AdoptBreaker(%q): the backup is not held open", form)
		}
		w.AdoptBreaker(form, schemas.BreakerClosed, time.Time{})
	}
}
