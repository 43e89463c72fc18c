package tests

import (
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestRetrySurvivesServiceRestart checks that a job waiting for its retry
// survives stopping the service: a new instance makes the next attempt, with
// the attempts and history of the first one.
func TestRetrySurvivesServiceRestart(t *testing.T) {
	t.Parallel()
	b, sink, results, cfg := failingTarget(t, testenv.M{
		"retry": testenv.M{"max_attempts": 2, "initial_interval": "2s"},
	})
	first := testenv.RunService(t, cfg)

	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "dur-svc", ReplyTo: "app.results"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return sink.Count() == 1, "waiting for attempt 1" })
	testenv.WaitSettled(t, b.JS, "a", 1, 10*time.Second) // the retry is stored
	first.Stop(t)
	if n := sink.Count(); n != 1 {
		t.Fatalf("%d calls before the restart, want 1", n)
	}

	testenv.RunService(t, cfg)
	d := testenv.WaitDeadLetters(t, b.JS, "a", 1, 20*time.Second)[0].Rec
	calls := sink.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2 (one per instance)", len(calls))
	}
	if gap := calls[1].Arrived.Sub(calls[0].Finished); gap < 1800*time.Millisecond {
		t.Errorf("attempt 2 came %s after attempt 1, want >= initial_interval (2s)", gap)
	}
	assertTwoAttempts(t, d)
	testenv.Eventually(t, 5*time.Second, func() (bool, string) { return results.Len() == 1, "waiting for the result" })
	if r := results.All()[0]; r.Outcome != schemas.OutcomeDeadLettered || r.Attempts != 2 {
		t.Errorf("result %+v, want dead_lettered after 2 attempts", r)
	}
}

// assertTwoAttempts checks a dead letter of two 503 attempts, the history of
// both kept.
func assertTwoAttempts(t *testing.T, d schemas.DeadLetter) {
	t.Helper()
	if d.Reason != schemas.ReasonExhausted || d.Attempts != 2 || d.LastStatus != 503 {
		t.Errorf("reason %q attempts %d last_status %d, want exhausted after 2 attempts, 503", d.Reason, d.Attempts, d.LastStatus)
	}
	if len(d.History) != 2 || d.History[0].Attempt != 1 || d.History[1].Attempt != 2 {
		t.Fatalf("history %+v, want attempts 1 and 2", d.History)
	}
	if d.FirstAttemptAt == nil || !d.FirstAttemptAt.Equal(d.History[0].At) {
		t.Errorf("first_attempt_at %v, want attempt 1's time %s", d.FirstAttemptAt, d.History[0].At)
	}
	if gap := d.History[1].At.Sub(d.History[0].At); gap < 1800*time.Millisecond {
		t.Errorf("history shows attempt 2 %s after attempt 1, want >= 2s", gap)
	}
}

// TestRetryInPlaceSurvivesServiceRestart: a retry due within a second is
// waited out in place (no scheduled copy); a graceful stop in the wait
// stores it as a scheduled copy with the attempt made, so the restarted
// service makes the second attempt as the last one.
func TestRetryInPlaceSurvivesServiceRestart(t *testing.T) {
	t.Parallel()
	b, sink, results, cfg := failingTarget(t, testenv.M{
		"retry": testenv.M{"max_attempts": 2, "initial_interval": "900ms", "randomization": 0},
	})
	first := testenv.RunService(t, cfg)

	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "dur-inplace", ReplyTo: "app.results"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return sink.Count() == 1, "waiting for attempt 1" })
	if n := testenv.CountMsgs(t, b.JS, testenv.Topo.SchedStream(), testenv.Topo.SchedWildcard()); n != 0 {
		t.Fatalf("%d scheduled copies while the retry waits in place, want 0", n)
	}
	first.Stop(t) // within the 900ms wait
	if n := sink.Count(); n != 1 {
		t.Fatalf("%d calls before the restart, want 1", n)
	}
	if n := testenv.CountMsgs(t, b.JS, testenv.Topo.SchedStream(), testenv.Topo.SchedWildcard()); n != 1 {
		t.Fatalf("%d scheduled copies after the stop, want the retry stored as one", n)
	}

	testenv.RunService(t, cfg)
	d := testenv.WaitDeadLetters(t, b.JS, "a", 1, 20*time.Second)[0].Rec
	if n := sink.Count(); n != 2 {
		t.Fatalf("%d calls, want 2 (one per instance)", n)
	}
	if d.Reason != schemas.ReasonExhausted || d.Attempts != 2 || len(d.History) != 2 {
		t.Errorf("dead letter: reason %q, %d attempts, history %d; want exhausted after 2, both kept", d.Reason, d.Attempts, len(d.History))
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) { return results.Len() == 1, "waiting for the result" })
}
