package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestCLIDLQReplayKilled kills `dlq replay` with SIGKILL a quarter of the
// way through 5,000 dead letters, reruns it, and counts: after the kill
// every dead letter is still stored or re-published (or both), after the
// rerun every one was re-published exactly once and none is left.
func TestCLIDLQReplayKilled(t *testing.T) {
	t.Parallel()
	const n = 5000
	start := time.Now()
	b := testenv.NewBroker(t)
	testenv.EnsureStreams(t, b.JS) // no consumer: replayed jobs stay in the jobs stream to be counted
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("crash-%04d", i)
	}
	testenv.PutDeadLetters(t, b.JS, "alpha", ids)
	testenv.PutDeadLetters(t, b.JS, "bravo", []string{"keep-1", "keep-2"})
	dead := func() int { return testenv.CountMsgs(t, b.JS, testenv.DLQStream, "dispatch.dlq.alpha") }
	jobs := func() int { return testenv.CountMsgs(t, b.JS, testenv.JobsStream, "dispatch.jobs.alpha") }

	bin := testenv.Binary(t) // built once per test binary; not part of the timings
	stored := time.Now()
	// At 1,000 jobs/s the run would take 5s: kill it once a quarter is done.
	p := testenv.StartProcess(t, bin, "dlq", "replay", "--target", "alpha", "--rate", "1000", "--nats-url", b.URL)
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		d := dead()
		return d <= n*3/4, fmt.Sprintf("%d of %d dead letters left", d, n)
	})
	p.Kill9(t)
	if code := p.Wait(t, 10*time.Second); code != -1 {
		t.Fatalf("replay exited %d before the kill; make it slower\n%s", code, p.Stderr())
	}
	d1, j1 := dead(), jobs()
	if d1 == 0 || d1 == n {
		t.Fatalf("after the kill %d of %d dead letters are left; want some replayed and some not", d1, n)
	}
	// Killed between a re-publish and its delete, a record is in both.
	if d1+j1 < n {
		t.Fatalf("after the kill: %d dead letters + %d jobs < %d: something was lost", d1, j1, n)
	}
	t.Logf("killed with %d of %d dead letters left and %d jobs re-published (%d in both)", d1, n, j1, d1+j1-n)

	killed := time.Now()
	r := testenv.RunCLI(t, nil, nil, "dlq", "replay", "--target", "alpha", "--nats-url", b.URL)
	if r.Code != 0 || !strings.Contains(r.Stdout, fmt.Sprintf("replayed %d, failed 0, skipped 0", d1)) {
		t.Fatalf("rerun\n%s", r)
	}
	if d := dead(); d != 0 {
		t.Errorf("%d alpha dead letters left after the rerun", d)
	}
	if n := testenv.CountMsgs(t, b.JS, testenv.DLQStream, "dispatch.dlq.bravo"); n != 2 {
		t.Errorf("%d bravo dead letters, want 2 untouched", n)
	}
	rerun := time.Now()
	perID := map[string]int{}
	replayOf := map[string]bool{}
	for _, m := range testenv.JobsOn(t, b.JS, "dispatch.jobs.alpha") {
		job, err := schemas.DecodeJob(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		perID[job.ID]++
		of := m.Header.Get(schemas.HeaderReplayOf)
		if of == "" || replayOf[of] {
			t.Errorf("job %s: Dispatch-Replay-Of %q missing or seen before", job.ID, of)
		}
		replayOf[of] = true
	}
	if len(perID) != n {
		t.Errorf("%d distinct jobs re-published, want %d", len(perID), n)
	}
	twice := 0
	for id, c := range perID {
		if c != 1 {
			twice++
			t.Errorf("job %s published %d times", id, c)
		}
	}
	t.Logf("%d jobs re-published, %d more than once; setup (records stored, binary built) %s, killed run %s, rerun %s, total %s",
		len(perID), twice, stored.Sub(start).Round(time.Millisecond), killed.Sub(stored).Round(time.Millisecond),
		rerun.Sub(killed).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
