package tests

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestUnknownTarget checks that a job for a target that is not configured is
// dead-lettered on that target's dead-letter subject after orphan_grace and
// leaves the jobs stream.
func TestUnknownTarget(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(
		testenv.M{"orphan_grace": "1s"},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)}),
	))

	published := time.Now()
	b.Publish(t, testenv.JobMsg("ghost", schemas.Job{ID: "orphan-1", ReplyTo: "app.results", Meta: json.RawMessage(`{"m":1}`)}))
	dls := testenv.WaitDeadLetters(t, b.JS, "ghost", 1, 15*time.Second)
	d := dls[0]
	if d.Subject != testenv.DLQSubject("ghost") {
		t.Errorf("dead letter on %s, want %s", d.Subject, testenv.DLQSubject("ghost"))
	}
	if d.Rec.Reason != schemas.ReasonUnknownTarget || d.Rec.ErrorClass != "unknown_target" || d.Rec.Target != "ghost" {
		t.Errorf("reason %q class %q target %q, want unknown_target, unknown_target, ghost", d.Rec.Reason, d.Rec.ErrorClass, d.Rec.Target)
	}
	if waited := d.Rec.DeadAt.Sub(published); waited < 900*time.Millisecond {
		t.Errorf("dead-lettered %s after publishing, before orphan_grace (1s)", waited)
	}
	var job schemas.Job
	if err := json.Unmarshal(d.Rec.Job, &job); err != nil || job.ID != "orphan-1" {
		t.Errorf("record job %s, want the job", d.Rec.Job)
	}
	if d.Header.Get("Dispatch-Job-Id") != "orphan-1" || d.Header.Get("Dispatch-Reason") != "unknown_target" {
		t.Errorf("headers %v", d.Header)
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		n := testenv.CountMsgs(t, b.JS, testenv.JobsStream, testenv.JobsSubject("ghost"))
		return n == 0, "the orphan is still in the jobs stream"
	})
	if n := sink.Count(); n != 0 {
		t.Errorf("%d calls", n)
	}
	// Dead-lettered jobs get a result on their reply_to (docs/contract.md section 3.8).
	t.Run("result", func(t *testing.T) {
		testenv.Poll(2*time.Second, func() (bool, string) { return results.Len() > 0, "" })
		if rs := results.ByID("orphan-1"); len(rs) != 1 || rs[0].Outcome != schemas.OutcomeDeadLettered || rs[0].ErrorClass != "unknown_target" {
			t.Errorf("results %+v, want one dead_lettered with error_class unknown_target", rs)
		}
	})
}
