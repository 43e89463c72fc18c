package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
	"github.com/nats-io/nats.go/jetstream"
)

// TestHold holds the jobs of a target with when_open: hold while its
// breaker is open: no call is made, nothing goes to fallback or dead
// letters, the fleet's breakers bucket shows the breaker open until the
// hold ends, and every job is delivered after.
func TestHold(t *testing.T) {
	t.Parallel()
	b, sink, results, cfg := failingTarget(t, testenv.M{
		"concurrency": 2,
		"retry":       testenv.M{"max_attempts": 10, "initial_interval": "100ms", "multiplier": 1},
		"breaker":     testenv.M{"consecutive_failures": 3, "open_timeout": "2s", "when_open": "hold"},
	})
	testenv.RunService(t, cfg)

	const n = 20
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("hold-%02d", i), ReplyTo: "app.results"})
	}
	b.PublishMany(t, msgs)

	// The breaker trips on the third failure; its jobs are held.
	var heldUntil time.Time
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		v, err := dispatcher.ReadFleet(context.Background(), b.JS, schemas.Topology{Prefix: testenv.Prefix}, time.Now())
		if err != nil {
			return false, err.Error()
		}
		for _, br := range v.OpenBreakers {
			if br.Target == "a" && br.Until != nil {
				heldUntil = *br.Until
				return true, ""
			}
		}
		return false, "target a's breaker not open"
	})
	pausedAt := time.Now()
	callsAtPause := sink.Count()
	sink.SetBehaviour(testenv.OK())
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return results.Distinct() >= n, fmt.Sprintf("%d of %d results", results.Distinct(), n)
	})
	for _, r := range results.All() {
		if r.Outcome != schemas.OutcomeDelivered {
			t.Errorf("job %s: %s, want delivered", r.JobID, r.Outcome)
		}
	}
	// No call between the pause and its end (a little slack for calls
	// already under way when the breaker opened).
	for _, c := range sink.Calls()[callsAtPause:] {
		if c.Arrived.Before(heldUntil.Add(-100*time.Millisecond)) && c.Arrived.After(pausedAt) {
			t.Errorf("a call arrived at %s, while held until %s", c.Arrived.Format(time.StampMilli), heldUntil.Format(time.StampMilli))
		}
	}
	if c := callsAtPause; c > 4 {
		t.Errorf("%d calls before the hold, want at most 4 (3 trips + one in flight)", c)
	}
	if fbs := testenv.Fallbacks(t, b.JS, "a"); len(fbs) != 0 {
		t.Errorf("%d fallback records in hold mode, want none", len(fbs))
	}
	if dls := testenv.DeadLetters(t, b.JS, "a"); len(dls) != 0 {
		t.Errorf("%d dead letters in hold mode, want none", len(dls))
	}
}

// TestHoldWhileProbingIsBounded: with when_open hold, a target whose probes
// keep failing (each takes 800 ms) and a backlog of 2,000 jobs, alone in
// its partition. While the breaker is open or probing nothing is
// rescheduled in a loop: the jobs wait (kept fresh) for the probe's outcome
// or the end of the open timeout, and — holding up no other target — the
// backlog waits in the stream, so the streams see next to no publishes.
// (With other targets' jobs behind it, the backlog is parked once instead:
// TestSickTargetDoesNotHoldItsPartition.)
func TestHoldWhileProbingIsBounded(t *testing.T) {
	t.Parallel()
	const n = 2000
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Sleep(800*time.Millisecond, testenv.Status(503)))
	svc := testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"concurrency": 8,
		"timeouts":    testenv.M{"total": "2s"},
		"retry":       testenv.M{"max_attempts": 100, "initial_interval": "100ms", "multiplier": 1},
		"breaker":     testenv.M{"consecutive_failures": 3, "open_timeout": "1s", "when_open": "hold"},
	})})))
	msgs := make([]testenv.Msg, n)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("probe-%04d", i)})
	}
	b.PublishMany(t, msgs)
	// Publishes: to the jobs stream, and to the scheduling stream (retries,
	// parks, their markers and their firings).
	var sts []jetstream.Stream
	for _, name := range []string{testenv.JobsStream, testenv.Topo.SchedStream()} {
		st, err := b.JS.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	lastSeq := func() uint64 {
		var n uint64
		for _, st := range sts {
			info, err := st.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			n += info.State.LastSeq
		}
		return n
	}
	// Wait for the breaker to have opened once (3 failed calls).
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return sink.Count() >= 3, "waiting for the breaker to open"
	})
	const retriesKey = `dispatcher_retries_total{error_class="http_5xx",target="a"}`
	const heldKey = `dispatcher_parked_total{reason="hold",target="a"}`
	const busyKey = `dispatcher_parked_total{reason="busy",target="a"}`
	m0 := scrape(t, svc.HTTPAddr())
	start, seq0, calls0 := time.Now(), lastSeq(), sink.Count()
	const window = 8 * time.Second
	time.Sleep(window) // the time under test: the publishes made in it
	m1 := scrape(t, svc.HTTPAddr())
	published := lastSeq() - seq0
	calls := sink.Count() - calls0
	retries, held, busy := m1[retriesKey]-m0[retriesKey], m1[heldKey]-m0[heldKey], m1[busyKey]-m0[busyKey]
	t.Logf("in %s of hold with %d jobs waiting: %d publishes to the jobs and scheduling streams (%.1f/s: %v retries, each a schedule, its marker and its firing), %v jobs parked for the hold, %v for a slot, %d probe calls",
		time.Since(start).Round(time.Millisecond), n, published, float64(published)/window.Seconds(), retries, held, busy, calls)
	// The open timeout (1s) ends well within AckWait: the held jobs wait in
	// memory, none is scheduled back; the only publishes are the probes'
	// own retries.
	if held != 0 {
		t.Errorf("%v jobs parked while the hold ends within AckWait, want 0", held)
	}
	if limit := float64(calls + 8); retries > limit {
		t.Errorf("%v retries in the window, want at most the probes and calls in flight (%v)", retries, limit)
	}
	if published > uint64(3*(retries+busy))+3 {
		t.Errorf("%d publishes, more than the %v retries and %v parks account for", published, retries, busy)
	}
	if busy != 0 {
		t.Errorf("%v jobs parked for a slot, holding up no other target", busy)
	}
	if calls > int(window/time.Second)*2 {
		t.Errorf("%d calls in %s of hold, want about one probe per open timeout", calls, window)
	}
}
