package chaos

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
	"github.com/jetdispatch/dispatcher/worker"
)

// flaky answers 503 to 20% of calls, holds 5% for slow before a 200 and
// the rest for 10ms,
// decided by a hash of the Idempotency-Key and the call's number, so a
// rerun makes the same choices.
func flaky(slow time.Duration) testenv.Behaviour { return flakyAt(10*time.Millisecond, slow) }

// flakyAt is flaky with the rest held for base instead of 10ms.
func flakyAt(base, slow time.Duration) testenv.Behaviour {
	ok := testenv.Sleep(base, testenv.OK())
	unavailable := testenv.Status(http.StatusServiceUnavailable)
	held := testenv.Sleep(slow, testenv.OK())
	return func(w http.ResponseWriter, r *http.Request, e *testenv.Env) bool {
		h := fnv.New32a()
		_, _ = h.Write([]byte(r.Header.Get("Idempotency-Key") + "/" + strconv.Itoa(e.N)))
		switch v := h.Sum32() % 100; {
		case v < 20:
			return unavailable(w, r, e)
		case v < 25:
			return held(w, r, e)
		default:
			return ok(w, r, e)
		}
	}
}

// TestWorkerCrashes runs two `serve` instances on the same config (so the
// same durable consumers) against flaky targets, kills one of them with
// SIGKILL every couple of seconds and starts it again: no job goes missing,
// and every duplicate call carries its job's Idempotency-Key.
func TestWorkerCrashes(t *testing.T) {
	t.Parallel()
	jobs, every := 3000, time.Second
	if soak() {
		jobs, every = 20000, 3*time.Second
	}
	crashLoop(t, []string{"alpha", "bravo"}, 4, jobs, every, false, flaky(400*time.Millisecond))
}

// TestWorkerCrashesManyTargets is TestWorkerCrashes over 1,000 targets at
// concurrency 1 (two sinks, 500 targets each), all consumed through the
// shared partitions. Calls take 300ms and an instance is killed every
// 500ms, so that the jobs span several kills (1,000 targets at once drain
// 10,000 jobs in a few seconds; 20,000 met 34 kills).
func TestWorkerCrashesManyTargets(t *testing.T) {
	t.Parallel()
	jobs, every := 20000, 500*time.Millisecond
	if soak() {
		jobs, every = 50000, 2*time.Second
	}
	targets := make([]string, 1000)
	for i := range targets {
		targets[i] = fmt.Sprintf("t%04d", i)
	}
	crashLoop(t, targets, 1, jobs, every, true, flakyAt(300*time.Millisecond, 800*time.Millisecond))
}

// crashLoop runs two `serve` instances on the same config against flaky
// targets (the targets alternate between two sinks), kills one of them
// with SIGKILL every `every` and starts it again, and checks the ledger.
//
// queueFirst queues every job before the instances start, so that the kill
// loop meets the whole drain: 1,000 targets drain jobs as fast as they are
// published. Otherwise the jobs are published while the instances run (a
// kill leaves up to a partition's budget of jobs to AckWait: queued first,
// 2 targets barely move under a kill a second).
func crashLoop(t *testing.T, targets []string, concurrency, jobs int, every time.Duration, queueFirst bool, behaviour testenv.Behaviour) {
	start := time.Now()
	n := startNATS(t)
	_, js := testenv.Connect(t, n.URL)
	sinks := []*testenv.Sink{testenv.NewSink(t), testenv.NewSink(t)}
	for _, s := range sinks {
		s.SetBehaviour(behaviour)
	}
	byName := testenv.M{}
	for i, name := range targets {
		byName[name] = testenv.Target(sinks[i%len(sinks)].URL, testenv.M{
			// total 1s: calls are short, so a killed instance's calls end soon.
			"timeouts":    testenv.M{"total": "1s", "response_header": "1s"},
			"retry":       testenv.M{"max_attempts": 5, "initial_interval": "50ms", "max_interval": "500ms"},
			"concurrency": concurrency,
		})
	}
	var cfgs, addrs [2]string
	for i := range cfgs {
		cfgs[i], addrs[i] = serveConfig(t, n.URL, testenv.Targets(byName))
	}

	ids := make([]string, jobs)
	msgs := make([]testenv.Msg, jobs)
	for i := range msgs {
		ids[i] = fmt.Sprintf("crash-%05d", i)
		msgs[i] = testenv.JobMsg(targets[i%len(targets)], schemas.Job{ID: ids[i], Path: "/crash?job=" + ids[i]})
	}
	if queueFirst {
		testenv.EnsureStreams(t, js)
		testenv.PublishMany(t, js, msgs)
	}
	var inst [2]*serve
	var all []*serve
	for i := range inst {
		inst[i] = startServe(t, cfgs[i], addrs[i])
		all = append(all, inst[i])
	}
	if !queueFirst {
		testenv.PublishMany(t, js, msgs)
	}
	in := testenv.LedgerInput{IDs: ids, Sinks: sinks}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	kills := 0
	deadline := time.Now().Add(90 * time.Second)
	if soak() {
		deadline = time.Now().Add(15 * time.Minute)
	}
	for lastKill := time.Now(); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		delivered := 0
		for _, s := range sinks {
			delivered += len(s.Answered(200))
		}
		if delivered >= jobs*95/100 {
			break // the rest is the tail: retries and redeliveries
		}
		if time.Since(lastKill) < every {
			continue
		}
		i := rng.IntN(len(inst))
		inst[i].Kill9(t)
		inst[i].Wait(t, 10*time.Second)
		inst[i] = startServe(t, cfgs[i], addrs[i])
		all = append(all, inst[i])
		kills++
		lastKill = time.Now()
	}
	if kills < 2 {
		t.Errorf("only %d kills happened before the jobs were nearly done; slow the targets down", kills)
	}
	l := waitAllAccounted(t, js, in, targets, time.Until(deadline)+2*worker.AckWait)
	l.Check(t)
	if l.Missing > 0 {
		explainMissing(t, l.MissingIDs, sinks, all)
	}
	t.Logf("%d targets; %d kills; %d calls in all; %s", len(targets), kills, sinks[0].Count()+sinks[1].Count(), time.Since(start).Round(time.Millisecond))
}
