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

// pausedOn reports whether every service has target paused, by its
// dispatcher_target_paused gauge.
func pausedOn(t *testing.T, target string, want bool, svcs ...*testenv.Running) func() (bool, string) {
	return func() (bool, string) {
		for i, s := range svcs {
			v := scrape(t, s.HTTPAddr())[`dispatcher_target_paused{target="`+target+`"}`]
			if (v == 1) != want {
				return false, fmt.Sprintf("instance %d: dispatcher_target_paused{target=%q} = %v", i, target, v)
			}
		}
		return true, ""
	}
}

// sumOf sums a series over the services' scrapes.
func sumOf(t *testing.T, series string, svcs ...*testenv.Running) float64 {
	var n float64
	for _, s := range svcs {
		n += scrape(t, s.HTTPAddr())[series]
	}
	return n
}

// TestPauseTwoInstances pauses a target with a backlog that two instances
// work through: once both heard of the pause (and the calls in flight
// ended) no call is made to it for 15s, while the targets beside it — one
// in its partition — are delivered in full; nothing of it is retried,
// dead-lettered or sent to fallback; its jobs are parked, each at most
// once per interval (the first park due after 10s, the next after as long
// as the pause has lasted: at most 2 parks per job in 15s). Resumed, every
// job is delivered, each once.
func TestPauseTwoInstances(t *testing.T) {
	t.Parallel()
	const n = 300
	b := testenv.NewBroker(t)
	ps, nb, other := testenv.NewSink(t), testenv.NewSink(t), testenv.NewSink(t)
	ps.SetBehaviour(testenv.Sleep(200*time.Millisecond, testenv.OK()))
	neighbour := samePartition(t, "p", "n-")
	cfg := b.Config(testenv.Targets(testenv.M{
		"p":       testenv.Target(ps.URL, testenv.M{"concurrency": 4}),
		neighbour: testenv.Target(nb.URL),
		"other":   testenv.Target(other.URL),
	}))
	s1, s2 := testenv.RunService(t, cfg), testenv.RunService(t, cfg)
	var msgs []testenv.Msg
	for i := range n {
		msgs = append(msgs, testenv.JobMsg("p", schemas.Job{ID: fmt.Sprintf("p-%03d", i)}))
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return ps.Count() >= 10, fmt.Sprintf("%d calls to p", ps.Count()) })

	ctx := context.Background()
	if _, err := dispatcher.Pause(ctx, b.JS, testenv.Topo, "p", time.Time{}, "test", "pause test"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, pausedOn(t, "p", true, s1, s2))
	testenv.Eventually(t, 5*time.Second, func() (bool, string) { // calls in flight end (200ms each)
		return ps.InFlight() == 0, fmt.Sprintf("%d calls to p still in flight", ps.InFlight())
	})
	before := ps.Count()
	pausedAt := time.Now()

	msgs = msgs[:0]
	for i := range 100 {
		msgs = append(msgs, testenv.JobMsg("p", schemas.Job{ID: fmt.Sprintf("p-late-%03d", i)}),
			testenv.JobMsg(neighbour, schemas.Job{ID: fmt.Sprintf("n-%03d", i)}),
			testenv.JobMsg("other", schemas.Job{ID: fmt.Sprintf("o-%03d", i)}))
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return nb.Distinct() == 100 && other.Distinct() == 100, fmt.Sprintf("neighbour %d, other %d of 100", nb.Distinct(), other.Distinct())
	})
	neighbourDone := time.Since(pausedAt)
	nc, oc := nb.Calls(), other.Calls()
	t.Logf("neighbour: first call %s, last %s; other: first %s, last %s after the publish",
		nc[0].Arrived.Sub(pausedAt), nc[len(nc)-1].Arrived.Sub(pausedAt), oc[0].Arrived.Sub(pausedAt), oc[len(oc)-1].Arrived.Sub(pausedAt))
	waiting := n + 100 - before
	for time.Since(pausedAt) < 15*time.Second {
		time.Sleep(250 * time.Millisecond)
		if c := ps.Count(); c != before {
			t.Fatalf("%d calls to p while it is paused (%s in)", c-before, time.Since(pausedAt).Round(time.Millisecond))
		}
	}
	// lag tells the pause apart from a hold: paused, and HEALTH PAUSED.
	r := testenv.RunCLI(t, nil, nil, "lag", "--json", "--target", "p", "--nats-url", b.URL)
	var lag dispatcher.Lag
	if err := json.Unmarshal([]byte(r.Stdout), &lag); err != nil || len(lag.Targets) != 1 {
		t.Fatalf("lag --json: %v\n%s", err, r)
	}
	if tl := lag.Targets[0]; !tl.Paused || tl.PausedBy != "test" || tl.Health == nil || tl.Health.State.String() != "PAUSED" ||
		!strings.Contains(tl.Health.Cause, "paused by test until resumed") {
		t.Errorf("lag --json p = %+v (health %+v), want paused by test, health PAUSED", tl, tl.Health)
	}
	parked := sumOf(t, `dispatcher_parked_total{reason="paused",target="p"}`, s1, s2)
	for _, series := range []string{`dispatcher_retries_total{error_class="http_5xx",target="p"}`, `dispatcher_jobs_total{outcome="dead_lettered",target="p"}`,
		`dispatcher_jobs_total{outcome="fallback",target="p"}`} {
		if v := sumOf(t, series, s1, s2); v != 0 {
			t.Errorf("%s = %v while paused, want 0", series, v)
		}
	}
	if len(testenv.DeadLetters(t, b.JS, "p")) != 0 || len(testenv.Fallbacks(t, b.JS, "p")) != 0 {
		t.Error("p has dead letters or fallback records")
	}
	// Each waiting job parked at least once (the ones in a lane when the
	// pause began included), and at most twice in 15s: at the pause's
	// start (due after 10s) and when that copy came back (due after as
	// long again).
	if parked < float64(waiting) || parked > float64(2*waiting) {
		t.Errorf("%v parks of %d waiting jobs in 15s, want each parked once or twice", parked, waiting)
	}
	waitingCopies := testenv.CountMsgs(t, b.JS, testenv.Topo.SchedStream(), testenv.Topo.SchedSubject("p", ">"))

	if _, err := dispatcher.Resume(ctx, b.JS, testenv.Topo, "p", "test"); err != nil {
		t.Fatal(err)
	}
	resumedAt := time.Now()
	testenv.Eventually(t, 5*time.Second, pausedOn(t, "p", false, s1, s2))
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		return ps.Distinct() == n+100, fmt.Sprintf("%d of %d jobs of p delivered", ps.Distinct(), n+100)
	})
	if ps.Count() != n+100 {
		t.Errorf("%d calls to p for %d jobs: some were called twice", ps.Count(), n+100)
	}
	t.Logf("%d jobs of p waiting while paused: %v parks in 15s (%.2f per job), %d scheduled copies at the resume; neighbour and other delivered in %s; all of p delivered %s after the resume",
		waiting, parked, parked/float64(waiting), waitingCopies, neighbourDone.Round(time.Millisecond), time.Since(resumedAt).Round(time.Millisecond))
}

// TestPauseForEndsByItself pauses a target for 3s with the command line,
// before its 200 jobs come: no call is made until the end, when every
// instance resumes by itself; the calls then ramp up — each of the two
// instances from 1 slot, doubling every second, to its 8 — and every job
// is delivered once.
func TestPauseForEndsByItself(t *testing.T) {
	t.Parallel()
	const n = 200
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Sleep(300*time.Millisecond, testenv.OK()))
	cfg := b.Config(testenv.Targets(testenv.M{"p": testenv.Target(sink.URL, testenv.M{"concurrency": 8})}))
	s1, s2 := testenv.RunService(t, cfg), testenv.RunService(t, cfg)

	r := testenv.RunCLI(t, nil, nil, "pause", "p", "--for", "3s", "--reason", "ramp test", "--nats-url", b.URL)
	if r.Code != 0 || !strings.Contains(r.Stdout, "2 live instance(s) serve p") {
		t.Fatalf("pause:\n%s", r)
	}
	ps, err := dispatcher.ReadPauses(context.Background(), b.JS, testenv.Topo, time.Now())
	if err != nil || len(ps) != 1 || ps[0].Until == nil {
		t.Fatalf("pauses = %+v, %v", ps, err)
	}
	until := *ps[0].Until
	testenv.Eventually(t, 2*time.Second, pausedOn(t, "p", true, s1, s2))
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("p", schemas.Job{ID: fmt.Sprintf("for-%03d", i)})
	}
	b.PublishMany(t, msgs)

	// In flight, sampled every 10ms from now until every job is delivered.
	type sample struct {
		at time.Time
		n  int
	}
	var samples []sample
	deadline := time.Now().Add(60 * time.Second)
	for sink.Distinct() < n && time.Now().Before(deadline) {
		samples = append(samples, sample{time.Now(), sink.InFlight()})
		time.Sleep(10 * time.Millisecond)
	}
	if sink.Distinct() != n || sink.Count() != n {
		t.Fatalf("%d calls for %d distinct jobs, want %d each once", sink.Count(), sink.Distinct(), n)
	}
	calls := sink.Calls()
	if first := calls[0].Arrived; first.Before(until) {
		t.Errorf("the first call came %s before the pause's end", until.Sub(first))
	}
	if lag := calls[0].Arrived.Sub(until); lag > 1500*time.Millisecond {
		t.Errorf("the first call came %s after the pause's end", lag)
	}
	// The most calls in flight in each half second after the end.
	var profile []int
	for _, s := range samples {
		if s.at.Before(until) {
			continue
		}
		i := int(s.at.Sub(until) / (500 * time.Millisecond))
		for len(profile) <= i {
			profile = append(profile, 0)
		}
		profile[i] = max(profile[i], s.n)
	}
	// Two instances, each 1 slot in its first second, 2 in its second, 4
	// in its third, then 8: at most 2, 4, 8 calls in flight (a little
	// slack for the instances' timers and the half-second edges).
	limits := []int{2, 3, 4, 6, 8, 12}
	for i, lim := range limits {
		if i < len(profile) && profile[i] > lim {
			t.Errorf("%d calls in flight %s–%s after the end, want at most %d (profile %v)",
				profile[i], time.Duration(i)*500*time.Millisecond, time.Duration(i+1)*500*time.Millisecond, lim, profile)
		}
	}
	if most := sink.MaxInFlight(); most < 12 {
		t.Errorf("at most %d calls in flight, want the ramp to reach about 16 (profile %v)", most, profile)
	}
	if len(testenv.DeadLetters(t, b.JS, "p")) != 0 {
		t.Error("dead letters for p")
	}
	t.Logf("calls in flight by half second after the end of the pause: %v", profile)
}

// TestPauseParksRetriesInPlace: jobs whose first call failed wait in the
// lane for a retry made in place when their target is paused: each is
// parked with its attempt (not attempted, not counted), and after the
// pause it is called once more and delivered, its result saying 2
// attempts.
func TestPauseParksRetriesInPlace(t *testing.T) {
	t.Parallel()
	const n = 20
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.FailFirst(1, 503))
	svc := testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"p": testenv.Target(sink.URL, testenv.M{
		"retry": testenv.M{"max_attempts": 3, "initial_interval": "1s", "multiplier": 1},
	})})))
	results := testenv.Results(t, b.NC, "app.results.p")
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("p", schemas.Job{ID: fmt.Sprintf("rip-%02d", i), ReplyTo: "app.results.p"})
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 5*time.Second, func() (bool, string) { return sink.Count() >= n, fmt.Sprintf("%d first calls", sink.Count()) })
	until := time.Now().Add(3 * time.Second)
	if _, err := dispatcher.Pause(context.Background(), b.JS, testenv.Topo, "p", until, "test", ""); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return results.Distinct() == n, fmt.Sprintf("%d of %d results", results.Distinct(), n)
	})
	for _, c := range sink.Calls()[n:] {
		if c.Arrived.Before(until) {
			t.Errorf("a retry of %s came %s before the end of the pause", c.Key, until.Sub(c.Arrived))
		}
	}
	for _, r := range results.All() {
		if r.Outcome != schemas.OutcomeDelivered || r.Attempts != 2 {
			t.Errorf("job %s: %s after %d attempts, want delivered after 2", r.JobID, r.Outcome, r.Attempts)
		}
	}
	if c := sink.Count(); c != 2*n {
		t.Errorf("%d calls, want %d", c, 2*n)
	}
	m := scrape(t, svc.HTTPAddr())
	if parked := m[`dispatcher_parked_total{reason="paused",target="p"}`]; parked != n {
		t.Errorf("%v jobs parked by the pause, want the %d waiting for a retry in place", parked, n)
	}
}
