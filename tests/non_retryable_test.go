package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestNonRetryable checks that final 4xx answers, and redirects (which are
// not followed), are dead-lettered at once without a retry.
func TestNonRetryable(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	codes := []int{400, 401, 403, 404, 422, 302}
	paths := map[string]testenv.Behaviour{}
	for _, c := range codes {
		if c/100 == 3 {
			paths[fmt.Sprintf("/s%d", c)] = testenv.Redirect(c, sink.URL+"/landing")
			continue
		}
		paths[fmt.Sprintf("/s%d", c)] = testenv.Status(c)
	}
	sink.SetBehaviour(testenv.ByPath(paths))
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"retry": testenv.M{"max_attempts": 5, "initial_interval": "50ms"},
	})})))

	for _, c := range codes {
		b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("nr-%d", c), Path: fmt.Sprintf("/s%d", c), ReplyTo: "app.results"}))
	}
	dls := testenv.WaitDeadLetters(t, b.JS, "a", len(codes), 15*time.Second)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return results.Len() >= len(codes), fmt.Sprintf("%d results, want %d", results.Len(), len(codes))
	})
	byID := map[string]schemas.DeadLetter{}
	for _, d := range dls {
		byID[d.Header.Get("Dispatch-Job-Id")] = d.Rec
	}
	byKey := sink.ByKey()
	for _, c := range codes {
		id := fmt.Sprintf("nr-%d", c)
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			if n := len(byKey[id]); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
			d, ok := byID[id]
			if !ok {
				t.Fatalf("no dead letter")
			}
			wantClass := "http_4xx"
			if c/100 == 3 {
				wantClass = d.ErrorClass // the contract has no class of its own for a 3xx
			}
			if d.Reason != schemas.ReasonNonRetryable || d.ErrorClass != wantClass || d.LastStatus != c || d.Attempts != 1 {
				t.Errorf("dead letter reason %q class %q last_status %d attempts %d, want non_retryable %s %d 1",
					d.Reason, d.ErrorClass, d.LastStatus, d.Attempts, wantClass, c)
			}
			rs := results.ByID(id)
			if len(rs) != 1 || rs[0].Outcome != schemas.OutcomeDeadLettered || rs[0].Status != c {
				t.Errorf("results %+v, want one dead_lettered with status %d", rs, c)
			}
		})
	}
	for _, c := range sink.Calls() {
		if c.Path == "/landing" {
			t.Errorf("a redirect was followed to %s", c.Path)
		}
	}
}
