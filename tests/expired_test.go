package tests

import (
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestExpired checks that a job past its not_after is dead-lettered with
// reason expired and never called.
func TestExpired(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)})))

	past := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "exp-1", NotAfter: &past, ReplyTo: "app.results"}))
	dls := testenv.WaitDeadLetters(t, b.JS, "a", 1, 15*time.Second)
	d := dls[0]
	if d.Rec.Reason != schemas.ReasonExpired || d.Rec.ErrorClass != "expired" || d.Rec.Attempts != 0 {
		t.Errorf("reason %q class %q attempts %d, want expired, expired, 0", d.Rec.Reason, d.Rec.ErrorClass, d.Rec.Attempts)
	}
	if d.Header.Get("Dispatch-Job-Id") != "exp-1" || d.Header.Get("Dispatch-Reason") != "expired" {
		t.Errorf("headers %v", d.Header)
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) { return results.Len() == 1, "waiting for the result" })
	if r := results.ByID("exp-1"); len(r) != 1 || r[0].Outcome != schemas.OutcomeDeadLettered || r[0].ErrorClass != "expired" {
		t.Errorf("results %+v, want one dead_lettered, expired", r)
	}
	if n := sink.Count(); n != 0 {
		t.Errorf("%d calls for an expired job", n)
	}
}
