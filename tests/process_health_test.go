package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// healthWindow is the health.window of the verdict tests: the backlog is
// sampled every window/12 (~417ms).
const healthWindow = 5 * time.Second

// lagHealth runs 'dispatcher lag --json --target target --config cfg' and
// returns the target's row (--config: a target no live instance serves
// has a row too).
func lagHealth(t *testing.T, cfg, target string) dispatcher.TargetLag {
	t.Helper()
	r := testenv.RunCLI(t, nil, nil, "lag", "--json", "--target", target, "--config", cfg)
	if r.Code != 0 {
		t.Fatalf("lag --json\n%s", r)
	}
	var lag dispatcher.Lag
	if err := json.Unmarshal([]byte(r.Stdout), &lag); err != nil {
		t.Fatalf("lag --json: %v\n%s", err, r)
	}
	for _, tl := range lag.Targets {
		if tl.Target == target && tl.Health != nil {
			return tl
		}
	}
	t.Fatalf("lag --json has no health of %s\n%s", target, r)
	return dispatcher.TargetLag{}
}

// waitHealth polls lag until target's verdict is want and returns its row
// and how long after since that was first seen.
func waitHealth(t *testing.T, cfg, target string, want verdict.State, since time.Time, timeout time.Duration) (dispatcher.TargetLag, time.Duration) {
	t.Helper()
	var last dispatcher.TargetLag
	for time.Since(since) < timeout {
		last = lagHealth(t, cfg, target)
		if last.Health.State == want {
			return last, time.Since(since)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not %s within %s of the situation: %s (%s), pending %d", target, want, timeout, last.Health.State, last.Health.Cause, last.Pending)
	return last, 0
}

// metricsHealth returns the states of target's dispatcher_target_health
// series that the process at addr exports.
func metricsHealth(t *testing.T, addr, target string) []string {
	t.Helper()
	code, body, err := testenv.Get(addr, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	var states []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "dispatcher_target_health{") && strings.Contains(line, `target="`+target+`"`) {
			states = append(states, line)
		}
	}
	return states
}

// TestProcessHealthVerdicts injects situations into a serve process and
// measures how soon 'dispatcher lag' (a process of its own, reading the
// verdicts the instance publishes) tells each: publishing faster than the
// target takes → GROWING with an ETA; publishing stopped → OK; a
// black-holed target → STALLED within two windows, and OK once it answers
// again; the service stopped →
// STOPPED at once (a graceful stop), within 3 heartbeats (a kill -9).
func TestProcessHealthVerdicts(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	// Two slots of 200ms calls: the target takes 10 jobs a second.
	sink.SetBehaviour(testenv.Sleep(200*time.Millisecond, testenv.OK()))
	cfg := testenv.WriteConfig(t, b.Config(
		testenv.M{"health": testenv.M{"window": healthWindow.String()}, "fleet": testenv.M{"heartbeat": "500ms"}},
		testenv.Targets(testenv.M{"t": testenv.Target(sink.URL, testenv.M{
			"concurrency": 2,
			"retry":       testenv.M{"max_attempts": 100, "max_interval": "1s", "max_elapsed": "1h"},
		})}),
	))
	serve := testenv.StartProcess(t, bin, "serve", "--config", cfg)
	addr := serve.HealthAddr(t)
	serve.WaitReady(t)
	if tl := lagHealth(t, cfg, "t"); tl.Health.State != verdict.OK {
		t.Fatalf("an idle target: %s (%s), want OK", tl.Health.State, tl.Health.Cause)
	}
	var report []string
	note := func(format string, a ...any) {
		report = append(report, fmt.Sprintf(format, a...))
		t.Logf(format, a...)
	}
	defer func() {
		t.Logf("detection times (health.window %s):\n  %s", healthWindow, strings.Join(report, "\n  "))
	}()

	// GROWING: 30 jobs a second for a target that takes 10.
	ctx, stopPublishing := context.WithCancel(context.Background())
	published := make(chan int, 1)
	start := time.Now()
	go func() {
		n := 0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			msgs := make([]testenv.Msg, 3)
			for i := range msgs {
				msgs[i] = testenv.JobMsg("t", schemas.Job{ID: fmt.Sprintf("grow-%05d", n)})
				n++
			}
			b.PublishMany(t, msgs)
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
		published <- n
	}()
	tl, took := waitHealth(t, cfg, "t", verdict.Growing, start, 4*healthWindow)
	note("GROWING %s after publishing began at 3x the target's pace (%q, ETA %s, %d in flight, %d buffered, pending %d)",
		took.Round(10*time.Millisecond), tl.Health.Cause, eta(tl.Health), tl.InFlight, tl.Buffered, tl.Pending)
	if tl.Health.ETASeconds == nil || *tl.Health.ETASeconds <= 0 {
		t.Errorf("GROWING without an ETA: %+v", tl.Health)
	}
	if tl.InFlight < 1 || tl.InFlight > 2 {
		t.Errorf("%d calls in flight, want 1 or 2 (concurrency 2)", tl.InFlight)
	}
	if got := metricsHealth(t, addr, "t"); len(got) != 1 || !strings.Contains(got[0], `state="GROWING"`) {
		t.Errorf("/metrics health of t: %q, want the GROWING series alone", got)
	}

	// Recovery: publishing stops; the target drains.
	stopPublishing()
	n := <-published
	stop := time.Now()
	tl, took = waitHealth(t, cfg, "t", verdict.OK, stop, 4*healthWindow)
	note("OK %s after publishing stopped (%q, ETA %s, pending %d of %d published)", took.Round(10*time.Millisecond), tl.Health.Cause, eta(tl.Health), tl.Pending, n)
	testenv.Eventually(t, 2*time.Minute, func() (bool, string) {
		return len(sink.Answered(200)) >= n, fmt.Sprintf("%d of %d delivered", len(sink.Answered(200)), n)
	})

	// STALLED: the target black-holes every call (they time out after the
	// total timeout, 3s, and are retried: no outcome).
	sink.SetBehaviour(testenv.BlackHole())
	msgs := make([]testenv.Msg, 10)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("t", schemas.Job{ID: fmt.Sprintf("hole-%02d", i)})
	}
	hole := time.Now()
	b.PublishMany(t, msgs)
	tl, took = waitHealth(t, cfg, "t", verdict.Stalled, hole, 2*healthWindow+3*time.Second)
	note("STALLED %s after the target went black (%q)", took.Round(10*time.Millisecond), tl.Health.Cause)
	if took > 2*healthWindow {
		t.Errorf("STALLED %s after the target went black, want within two windows (%s)", took, 2*healthWindow)
	}
	if got := metricsHealth(t, addr, "t"); len(got) != 1 || !strings.Contains(got[0], `state="STALLED"`) {
		t.Errorf("/metrics health of t: %q, want the STALLED series alone", got)
	}
	if r := testenv.RunCLI(t, nil, nil, "lag", "--fail-on", "STALLED,STOPPED", "--nats-url", b.URL); r.Code != 3 || !strings.Contains(r.Stderr, "t is STALLED") {
		t.Errorf("lag --fail-on STALLED,STOPPED\n%s", r)
	}

	// Recovery: the target answers again.
	sink.SetBehaviour(testenv.OK())
	back := time.Now()
	tl, took = waitHealth(t, cfg, "t", verdict.OK, back, 2*healthWindow)
	note("OK %s after the black-holed target answered again (%q)", took.Round(10*time.Millisecond), tl.Health.Cause)

	// STOPPED: the only instance stops; jobs stay stored.
	sink.SetBehaviour(testenv.BlackHole())
	for i := range msgs {
		msgs[i] = testenv.JobMsg("t", schemas.Job{ID: fmt.Sprintf("left-%02d", i)})
	}
	b.PublishMany(t, msgs)
	serve.Terminate(t)
	serve.Wait(t, 30*time.Second)
	gone := time.Now()
	tl, took = waitHealth(t, cfg, "t", verdict.Stopped, gone, 10*time.Second)
	note("STOPPED %s after the service stopped (SIGTERM; one lag run: %q)", took.Round(10*time.Millisecond), tl.Health.Cause)
	if took > 3*time.Second {
		t.Errorf("STOPPED %s after the stop, want at once (one lag run)", took)
	}

	// A kill -9 leaves its heartbeat: STOPPED once 3 heartbeats (1.5s)
	// passed without one.
	again := testenv.StartProcess(t, bin, "serve", "--config", cfg)
	again.WaitReady(t)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		h := lagHealth(t, cfg, "t").Health
		return h.State != verdict.Stopped, "still " + h.State.String()
	})
	again.Kill9(t)
	again.Wait(t, 10*time.Second)
	killed := time.Now()
	tl, took = waitHealth(t, cfg, "t", verdict.Stopped, killed, 10*time.Second)
	note("STOPPED %s after a kill -9 (fleet.heartbeat 500ms: %q)", took.Round(10*time.Millisecond), tl.Health.Cause)
}

func eta(h *dispatcher.TargetHealth) string {
	if h.ETASeconds == nil {
		return "never"
	}
	return verdict.FormatETA(time.Duration(*h.ETASeconds * float64(time.Second)))
}
