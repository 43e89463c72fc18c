package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestStatusClass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		class  string
		want   string
	}{
		{"ok", 200, "", "2xx"},
		{"created", 201, "", "2xx"},
		{"redirect", 302, "", "3xx"},
		{"bad request", 400, "http_4xx", "4xx"},
		{"too many", 429, "http_429", "429"},
		{"unavailable", 503, "http_5xx", "5xx"},
		{"no response", 0, "timeout_connect", "timeout_connect"},
		{"no response no class", 0, "", "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusClass(tc.status, tc.class); got != tc.want {
				t.Errorf("statusClass(%d, %q) = %q, want %q", tc.status, tc.class, got, tc.want)
			}
		})
	}
}

func TestObserverSeries(t *testing.T) {
	m := New(BuildInfo{Version: "v1.2.3", Commit: "abc"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				m.AttemptStarted("a", "http://a")
				m.AttemptDone("a", "http://a", 200, "", 3*time.Millisecond)
				m.JobEnded("a", "delivered", "")
			}
		}()
	}
	wg.Wait()
	m.AttemptStarted("b", "http://b1")
	m.AttemptDone("b", "http://b1", 503, "http_5xx", time.Second)
	m.RetryScheduled("b", "http_5xx", time.Second)
	m.BreakerChanged("b", "http://b1", "closed", "open")
	m.EndpointSwitched("b", "http://b1", "http://b2")
	m.JobEnded("b", "dead_lettered", "exhausted")
	m.JobEnded("b", "fallback", "circuit_open")
	m.Reload(true)
	m.Reload(false)
	m.Reload(false)

	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"attempts a 2xx", testutil.ToFloat64(m.attempts.WithLabelValues("a", "2xx")), 800},
		{"jobs a delivered", testutil.ToFloat64(m.jobs.WithLabelValues("a", "delivered")), 800},
		{"in flight a", testutil.ToFloat64(m.inFlight.WithLabelValues("a")), 0},
		{"attempts b 5xx", testutil.ToFloat64(m.attempts.WithLabelValues("b", "5xx")), 1},
		{"retries b", testutil.ToFloat64(m.retries.WithLabelValues("b", "http_5xx")), 1},
		{"breaker b1", testutil.ToFloat64(m.breakerState.WithLabelValues("b", "http://b1")), 2},
		{"breaker a", testutil.ToFloat64(m.breakerState.WithLabelValues("a", "http://a")), 0},
		{"transitions b1", testutil.ToFloat64(m.breakerTrans.WithLabelValues("b", "http://b1", "open")), 1},
		{"switches b", testutil.ToFloat64(m.switches.WithLabelValues("b", "http://b2")), 1},
		{"dead b exhausted", testutil.ToFloat64(m.deadLetters.WithLabelValues("b", "exhausted")), 1},
		{"dead b expired (created at zero)", testutil.ToFloat64(m.deadLetters.WithLabelValues("b", "expired")), 0},
		{"fallbacks b", testutil.ToFloat64(m.fallbacks.WithLabelValues("b")), 1},
		{"reload ok", testutil.ToFloat64(m.reloadOK), 1},
		{"reload error", testutil.ToFloat64(m.reloadErr), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Errorf("%d duration series, want 2", n)
	}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(`
# HELP dispatcher_config_reloads_total Config reloads by result (ok, error).
# TYPE dispatcher_config_reloads_total counter
dispatcher_config_reloads_total{result="error"} 2
dispatcher_config_reloads_total{result="ok"} 1
`), "dispatcher_config_reloads_total"); err != nil {
		t.Error(err)
	}
	if lint, err := testutil.GatherAndLint(m.reg); err != nil || len(lint) > 0 {
		t.Errorf("lint: %v %v", err, lint)
	}
}

func TestPoller(t *testing.T) {
	m := New(BuildInfo{})
	// Every reading first hands its number to the test and waits until it
	// is taken: once reading n+1 is taken, reading n has been applied.
	readings := make(chan int)
	reads := 0 // only the poller's goroutine calls src
	src := func(ctx context.Context) (Backlog, error) {
		reads++
		select {
		case readings <- reads:
		case <-ctx.Done():
			return Backlog{}, ctx.Err()
		}
		switch reads {
		case 1:
			return Backlog{Targets: []TargetBacklog{{Target: "a", Pending: 7, OldestPendingSeconds: 42}, {Target: "b", Pending: 1}}}, nil
		case 2:
			return Backlog{}, errors.New("boom")
		}
		return Backlog{Targets: []TargetBacklog{{Target: "a", Pending: 3}}}, nil
	}
	p := NewPoller(m, src, PollerSettings{Every: 10 * time.Millisecond})
	p.Start()
	defer p.Stop()
	wait := func(want int) {
		t.Helper()
		select {
		case n := <-readings:
			if n != want {
				t.Fatalf("reading %d, want %d", n, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no reading %d within 5s", want)
		}
	}
	wait(1)
	wait(2) // the first reading is applied
	if got := testutil.ToFloat64(m.pending.WithLabelValues("a")); got != 7 {
		t.Errorf("pending a = %v, want 7", got)
	}
	wait(3) // the error is counted
	wait(4) // the third reading is applied
	p.Stop()
	if got := testutil.ToFloat64(m.pending.WithLabelValues("a")); got != 3 {
		t.Errorf("pending a = %v, want 3", got)
	}
	if n := testutil.CollectAndCount(m.pending); n != 1 {
		t.Errorf("%d pending series, want 1 (b dropped)", n)
	}
	if got := testutil.ToFloat64(m.lagErrors); got < 1 {
		t.Errorf("lag poll errors = %v, want at least 1", got)
	}
	select {
	case <-p.Closed():
	default:
		t.Error("Closed not closed after Stop")
	}
}

func TestPollerStopBeforeStart(t *testing.T) {
	p := NewPoller(New(BuildInfo{}), func(context.Context) (Backlog, error) { return Backlog{}, nil }, PollerSettings{})
	p.Stop()
	p.Stop()
}

// TestSetBacklog checks that a target has backlog series only while its
// backlog is above 0, and that the partitions' series follow the consumers
// of the reading.
func TestSetBacklog(t *testing.T) {
	m := New(BuildInfo{})
	m.SetBacklog(Backlog{
		Targets: []TargetBacklog{{Target: "a", Pending: 5, OldestPendingSeconds: 12}, {Target: "idle"}},
		Partitions: []ConsumerBacklog{
			{Partition: 0, Kind: KindJobs, Pending: 2, AckPending: 3, Redelivered: 1, WaitingPulls: 4},
			{Partition: 0, Kind: KindDue},
			{Partition: 1, Kind: KindJobs, Pending: 9},
		},
	})
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"pending a", testutil.ToFloat64(m.pending.WithLabelValues("a")), 5},
		{"oldest a", testutil.ToFloat64(m.oldestPending.WithLabelValues("a")), 12},
		{"partition 0 jobs pending", testutil.ToFloat64(m.partPending.WithLabelValues("0", KindJobs)), 2},
		{"partition 0 jobs ack pending", testutil.ToFloat64(m.partAck.WithLabelValues("0", KindJobs)), 3},
		{"partition 0 jobs redelivered", testutil.ToFloat64(m.partRedeliv.WithLabelValues("0", KindJobs)), 1},
		{"partition 0 jobs waiting", testutil.ToFloat64(m.partWaiting.WithLabelValues("0", KindJobs)), 4},
		{"partition 1 jobs pending", testutil.ToFloat64(m.partPending.WithLabelValues("1", KindJobs)), 9},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// ToFloat64 of WithLabelValues creates the series it reads: count on a
	// fresh Metrics.
	m = New(BuildInfo{})
	m.SetBacklog(Backlog{Targets: []TargetBacklog{{Target: "a", Pending: 5}, {Target: "idle"}},
		Partitions: []ConsumerBacklog{{Partition: 0, Kind: KindJobs}, {Partition: 0, Kind: KindDue}}})
	if n, p := testutil.CollectAndCount(m.pending), testutil.CollectAndCount(m.partPending); n != 1 || p != 2 {
		t.Errorf("%d pending series (want 1: a, not idle), %d partition series (want 2)", n, p)
	}
	m.SetBacklog(Backlog{Targets: []TargetBacklog{{Target: "a"}}, Partitions: []ConsumerBacklog{{Partition: 0, Kind: KindJobs}}})
	if n, o, p := testutil.CollectAndCount(m.pending), testutil.CollectAndCount(m.oldestPending), testutil.CollectAndCount(m.partWaiting); n != 0 || o != 0 || p != 1 {
		t.Errorf("after a drained: %d pending and %d oldest series (want 0), %d partition series (want 1)", n, o, p)
	}
}

// TestLazyTargetSeries checks that a target told its limits but without any
// event has no series, and gets them, limits included, with its first event.
func TestLazyTargetSeries(t *testing.T) {
	m := New(BuildInfo{})
	count := func() int {
		fams, err := m.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range fams {
			if strings.HasPrefix(f.GetName(), Namespace+"_") {
				n += len(f.GetMetric())
			}
		}
		return n
	}
	none := count()
	for i := range 1000 {
		m.SetLimits(fmt.Sprintf("idle-%d", i), 8, 0)
	}
	m.SetLimits("busy", 8, 2.5)
	m.SetBacklog(Backlog{Targets: []TargetBacklog{{Target: "idle-1"}}})
	if idle := count(); idle != none {
		t.Errorf("%d dispatcher_ series with 1001 idle targets, %d without targets: want as many", idle, none)
	}
	m.SetLimits("busy", 16, 2.5)
	m.AttemptStarted("busy", "https://busy.example")
	if got := testutil.ToFloat64(m.limitConc.WithLabelValues("busy")); got != 16 {
		t.Errorf("limit_concurrency busy = %v, want 16", got)
	}
	if got := testutil.ToFloat64(m.limitRate.WithLabelValues("busy")); got != 2.5 {
		t.Errorf("limit_rate_per_second busy = %v, want 2.5", got)
	}
	m.SetLimits("busy", 4, 0)
	if got := testutil.ToFloat64(m.limitConc.WithLabelValues("busy")); got != 4 {
		t.Errorf("limit_concurrency busy after SetLimits = %v, want 4", got)
	}
	if n := testutil.CollectAndCount(m.limitConc); n != 1 {
		t.Errorf("%d limit_concurrency series, want 1 (busy)", n)
	}
}

// TestSetHealth checks that only the current state has a series, and that
// an idle target in state OK has none.
func TestSetHealth(t *testing.T) {
	m := New(BuildInfo{})
	m.SetHealth("idle", HealthOK)
	if n := testutil.CollectAndCount(m.health); n != 0 {
		t.Fatalf("%d health series for an idle OK target, want 0", n)
	}
	m.SetHealth("a", "GROWING")
	m.SetHealth("a", "STALLED")
	m.SetBacklog(Backlog{Targets: []TargetBacklog{{Target: "b", Pending: 3}}})
	m.SetHealth("b", HealthOK)
	m.JobEnded("c", "delivered", "")
	m.SetHealth("c", HealthOK)
	want := `
# HELP dispatcher_target_health 1 for the target's current health state (OK, GROWING, STALLED, OPEN, HELD, PAUSED, STOPPED) as this instance judges it; the other states have no series.
# TYPE dispatcher_target_health gauge
dispatcher_target_health{state="OK",target="b"} 1
dispatcher_target_health{state="OK",target="c"} 1
dispatcher_target_health{state="STALLED",target="a"} 1
`
	if err := testutil.CollectAndCompare(m.health, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	m.SetHealth("a", HealthOK)
	m.DeleteHealth("b")
	m.DeleteHealth("never")
	if n := testutil.CollectAndCount(m.health); n != 2 {
		t.Errorf("%d health series after a recovered and b deleted, want 2", n)
	}
	if got := testutil.ToFloat64(m.health.WithLabelValues("a", HealthOK)); got != 1 {
		t.Errorf("a OK = %v", got)
	}
}

// BenchmarkObserverPerJob measures what the Observer calls of one job that
// is delivered at its first attempt cost (AttemptStarted, AttemptDone,
// JobEnded), with one target's series already created.
func BenchmarkObserverPerJob(b *testing.B) {
	m := New(BuildInfo{})
	m.Target("payments", "https://pay.example.com")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.AttemptStarted("payments", "https://pay.example.com")
			m.AttemptDone("payments", "https://pay.example.com", 200, "", 12*time.Millisecond)
			m.JobEnded("payments", "delivered", "")
		}
	})
}

// BenchmarkObserverRetryJob adds a failed attempt and its retry.
func BenchmarkObserverRetryJob(b *testing.B) {
	m := New(BuildInfo{})
	b.ReportAllocs()
	for b.Loop() {
		m.AttemptStarted("payments", "https://pay.example.com")
		m.AttemptDone("payments", "https://pay.example.com", 503, "http_5xx", 12*time.Millisecond)
		m.RetryScheduled("payments", "http_5xx", time.Second)
		m.AttemptStarted("payments", "https://pay.example.com")
		m.AttemptDone("payments", "https://pay.example.com", 200, "", 12*time.Millisecond)
		m.JobEnded("payments", "delivered", "")
	}
}
