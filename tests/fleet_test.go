package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// fleetBreakerRecord reads the fleet's record of target's endpoint.
func fleetBreakerRecord(t *testing.T, b *testenv.Broker, target, endpoint string) (dispatcher.FleetBreaker, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := b.JS.KeyValue(ctx, schemas.Topology{Prefix: testenv.Prefix}.BreakersBucket())
	if err != nil {
		t.Fatalf("breakers bucket: %v", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatalf("breakers bucket keys: %v", err)
	}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var rec dispatcher.FleetBreaker
		if json.Unmarshal(e.Value(), &rec) == nil && rec.Target == target && rec.Endpoint == endpoint {
			return rec, true
		}
	}
	return dispatcher.FleetBreaker{}, false
}

// logTime is the time of the first JSON log line whose msg is msg.
func logTime(t *testing.T, logs, msg string) time.Time {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Msg string  `json:"msg"`
			TS  float64 `json:"ts"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == msg {
			return time.Unix(0, int64(l.TS*1e9))
		}
	}
	t.Fatalf("no log line %q", msg)
	return time.Time{}
}

// TestFleetBreakerShared: two instances share a target; when one's breaker
// opens, the other adopts it within a second, and from then on no call of
// either instance reaches the target until the open timeout has passed.
func TestFleetBreakerShared(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Status(503))
	cfg := b.Config(testenv.M{"fleet": testenv.M{"heartbeat": "200ms"}}, testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"concurrency": 1,
		"retry":       testenv.M{"max_attempts": 1},
		"breaker":     testenv.M{"consecutive_failures": 3, "open_timeout": "6s"},
	})}))
	svcs := []*testenv.Running{testenv.RunService(t, cfg), testenv.RunService(t, cfg)}
	stateKey := fmt.Sprintf(`dispatcher_breaker_state{endpoint=%q,target="a"}`, sink.URL)
	fleetKey := fmt.Sprintf(`dispatcher_fleet_breaker_open{endpoint=%q,target="a"}`, sink.URL)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		a, c := scrape(t, svcs[0].HTTPAddr())["dispatcher_fleet_instances"], scrape(t, svcs[1].HTTPAddr())["dispatcher_fleet_instances"]
		return a == 2 && c == 2, fmt.Sprintf("fleet_instances %v and %v, want 2 and 2", a, c)
	})

	// One job at a time, until an instance's own breaker opens: the other
	// cannot have tripped at the same moment.
	opener := -1
	for i := 0; i < 30 && opener < 0; i++ {
		b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("trip-%02d", i)}))
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			n := len(testenv.DeadLetters(t, b.JS, "a")) + len(testenv.Fallbacks(t, b.JS, "a"))
			return n == i+1, fmt.Sprintf("%d of %d jobs ended", n, i+1)
		})
		for k, s := range svcs {
			if scrape(t, s.HTTPAddr())[stateKey] == 2 {
				opener = k
				break
			}
		}
	}
	if opener < 0 {
		t.Fatal("no instance's breaker opened after 30 failing jobs")
	}
	other := svcs[1-opener]
	var rec dispatcher.FleetBreaker
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		var ok bool
		rec, ok = fleetBreakerRecord(t, b, "a", sink.URL)
		return ok && rec.State == "open", fmt.Sprintf("fleet record %+v", rec)
	})
	var seen time.Time
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		v := scrape(t, other.HTTPAddr())[fleetKey]
		seen = time.Now()
		return v == 1, fmt.Sprintf("other instance's %s = %v", fleetKey, v)
	})
	took := seen.Sub(rec.At)
	adopted := logTime(t, other.Logs.String(), "breaker open on another instance: endpoint avoided here too")
	t.Logf("breaker opened on instance %d at %s; the other adopted it %s later by its log (%s by its /metrics, polling included)",
		opener, rec.At.Format("15:04:05.000"), adopted.Sub(rec.At).Round(100*time.Microsecond), took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the other instance adopted the open breaker after %s, want within 1s", took)
	}
	if s := scrape(t, other.HTTPAddr())[stateKey]; s != 0 {
		t.Errorf("the other instance's own breaker state %v, want 0 (closed: it adopted, it did not trip)", s)
	}

	calls := sink.Count()
	before := len(testenv.Fallbacks(t, b.JS, "a"))
	const n = 20
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("open-%02d", i)})
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		got := len(testenv.Fallbacks(t, b.JS, "a")) - before
		return got == n, fmt.Sprintf("%d of %d jobs to fallback", got, n)
	})
	if c := sink.Count(); c != calls {
		t.Errorf("%d calls reached the target while the fleet's breaker was open, want 0", c-calls)
	}
	for _, f := range testenv.Fallbacks(t, b.JS, "a")[before:] {
		if f.Rec.BreakerState != "open" {
			t.Errorf("fallback record breaker_state %q, want open", f.Rec.BreakerState)
		}
	}

	// After the open timeout the endpoint is the fleet's again.
	sink.SetBehaviour(testenv.OK())
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		v := scrape(t, other.HTTPAddr())[fleetKey]
		return v == 0, fmt.Sprintf("other instance's %s = %v", fleetKey, v)
	})
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "after"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(sink.Answered(200)) == 1, fmt.Sprintf("%d calls answered 200, want the job published after the open timeout", len(sink.Answered(200)))
	})
}

// TestFleetLimitsSplitByLiveInstances: with limit_scope fleet, a target's
// concurrency and rate limit are the fleet's; each instance takes its share
// as instances come and go, and calls in flight never exceed the fleet's.
func TestFleetLimitsSplitByLiveInstances(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Sleep(150*time.Millisecond, testenv.OK()))
	cfg := b.Config(testenv.M{"fleet": testenv.M{"heartbeat": "200ms"}}, testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"concurrency": 6,
		"limit_scope": "fleet",
		"rate_limit":  testenv.M{"per_second": 1000, "burst": 10},
	})}))
	// The limit gauges of a target appear with its first event; before any
	// job, each instance's quota shows in the fleet view.
	limits := func(s *testenv.Running) (float64, float64, float64) {
		m := scrape(t, s.HTTPAddr())
		return m[`dispatcher_limit_concurrency{target="a"}`], m[`dispatcher_limit_rate_per_second{target="a"}`], m["dispatcher_fleet_instances"]
	}
	quotas := func(instances int, conc int, rate float64) (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		fl, err := dispatcher.ReadFleet(ctx, b.JS, schemas.Topology{Prefix: testenv.Prefix}, time.Now())
		if err != nil {
			return false, fmt.Sprintf("ReadFleet: %v", err)
		}
		if len(fl.Instances) != instances {
			return false, fmt.Sprintf("fleet view lists %d instances, want %d: %+v", len(fl.Instances), instances, fl.Instances)
		}
		for _, in := range fl.Instances {
			if len(in.Targets) != 1 || in.Targets[0].Concurrency != conc || in.Targets[0].PerSecond != rate || in.Targets[0].Scope != "fleet" {
				return false, fmt.Sprintf("fleet view of %s: %+v, want target a at concurrency %d, rate %v, scope fleet", in.ID, in.Targets, conc, rate)
			}
		}
		return true, ""
	}
	first := testenv.RunService(t, cfg)
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		if _, _, n := limits(first); n != 1 {
			return false, fmt.Sprintf("alone: %v instances", n)
		}
		return quotas(1, 6, 1000)
	})
	second := testenv.RunService(t, cfg)
	joined := time.Now()
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		for k, s := range []*testenv.Running{first, second} {
			if _, _, n := limits(s); n != 2 {
				return false, fmt.Sprintf("instance %d of 2: %v instances", k, n)
			}
		}
		return quotas(2, 3, 500)
	})
	t.Logf("both instances on their share %s after the second was ready", time.Since(joined).Round(time.Millisecond))

	const n = 120
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("lim-%03d", i)})
	}
	b.PublishMany(t, msgs)
	// Each instance holds at most its partition's budget (64 here: the
	// lane of a target of concurrency 6 holds 24, the budget is at least
	// 64); whatever it holds is kept fresh, so nothing is redelivered and
	// each job is called once.
	maxAckPending := 0
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		maxAckPending = max(maxAckPending, testenv.ConsumerInfo(t, b.JS, "a").NumAckPending)
		return sink.Distinct() == n, fmt.Sprintf("%d of %d delivered", sink.Distinct(), n)
	})
	if maxAckPending > 2*64 {
		t.Errorf("up to %d jobs delivered and unacked across 2 instances, want at most 128 (2 × a partition's budget of 64)", maxAckPending)
	}
	if d := testenv.TargetDeliveries(t, b.JS, "a"); d.Redelivered != 0 {
		t.Errorf("%d deliveries redelivered, want 0", d.Redelivered)
	}
	for id, calls := range sink.ByKey() {
		if len(calls) != 1 {
			t.Errorf("%s called %d times, want 1", id, len(calls))
		}
	}
	if m := sink.MaxInFlight(); m > 6 || m < 4 {
		t.Errorf("at most %d calls in flight across 2 instances, want 6 (the fleet's), at least 4", m)
	}
	t.Logf("%d jobs through 2 instances sharing concurrency 6: at most %d calls in flight, %d jobs unacked (sampled)", n, sink.MaxInFlight(), maxAckPending)
	// Both called a: their limit gauges exist now.
	for k, s := range []*testenv.Running{first, second} {
		if c, r, _ := limits(s); c != 3 || r != 500 {
			t.Errorf("instance %d of 2: limit gauges concurrency %v rate %v, want 3 500", k, c, r)
		}
	}

	second.Stop(t)
	left := time.Now()
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		c, _, k := limits(first)
		return c == 6 && k == 1, fmt.Sprintf("after the other left: concurrency %v instances %v, want 6 1", c, k)
	})
	t.Logf("the remaining instance took the whole fleet's share %s after the other stopped", time.Since(left).Round(time.Millisecond))
}

// TestFleetLimitsSplitByServingInstances: a target's fleet limits are split
// among the live instances that serve it, not among all live instances.
// One instance serves a and b, the other a only: each applies half of a's
// concurrency 4, and the one serving b applies all of b's 4.
func TestFleetLimitsSplitByServingInstances(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	fleet := testenv.M{"concurrency": 4, "limit_scope": "fleet"}
	both := testenv.RunService(t, b.Config(testenv.M{"fleet": testenv.M{"heartbeat": "200ms"}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, fleet), "b": testenv.Target(sink.URL, fleet)})))
	onlyA := testenv.RunService(t, b.Config(testenv.M{"fleet": testenv.M{"heartbeat": "200ms"}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, fleet)})))
	// Before any job the quotas show in the fleet view (the limit gauges
	// appear with a target's first event): the instances are told apart by
	// their target counts.
	conc := func(in dispatcher.FleetInstance, target string) int {
		for _, l := range in.Targets {
			if l.Target == target {
				return l.Concurrency
			}
		}
		return -1
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		n1, n2 := scrape(t, both.HTTPAddr())["dispatcher_fleet_instances"], scrape(t, onlyA.HTTPAddr())["dispatcher_fleet_instances"]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		fl, err := dispatcher.ReadFleet(ctx, b.JS, schemas.Topology{Prefix: testenv.Prefix}, time.Now())
		if err != nil {
			return false, fmt.Sprintf("ReadFleet: %v", err)
		}
		a1, a2, b1 := -1, -1, -1
		for _, in := range fl.Instances {
			switch in.TargetCount {
			case 2:
				a1, b1 = conc(in, "a"), conc(in, "b")
			case 1:
				a2 = conc(in, "a")
			}
		}
		return n1 == 2 && n2 == 2 && a1 == 2 && a2 == 2 && b1 == 4,
			fmt.Sprintf("instances %v and %v; a: %v and %v; b on the instance serving it: %v; want 2 2, 2 2, 4", n1, n2, a1, a2, b1)
	})
	// A job of b makes b's gauges on the instance serving it.
	b.Publish(t, testenv.JobMsg("b", schemas.Job{ID: "b-1"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		v := scrape(t, both.HTTPAddr())[`dispatcher_limit_concurrency{target="b"}`]
		return v == 4, fmt.Sprintf("dispatcher_limit_concurrency of b = %v, want 4", v)
	})

	// The fleet view shows each instance's target count and its quotas.
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		fl, err := dispatcher.ReadFleet(ctx, b.JS, schemas.Topology{Prefix: testenv.Prefix}, time.Now())
		if err != nil {
			return false, fmt.Sprintf("ReadFleet: %v", err)
		}
		counts := map[int]int{}
		for _, in := range fl.Instances {
			counts[in.TargetCount]++
			if len(in.Targets) != in.TargetCount {
				return false, fmt.Sprintf("%s shows the quotas of %+v, want its %d fleet-scope targets", in.Instance, in.Targets, in.TargetCount)
			}
		}
		return len(fl.Instances) == 2 && counts[1] == 1 && counts[2] == 1, fmt.Sprintf("fleet view %+v, want one instance of 2 targets, one of 1", fl.Instances)
	})
}
