package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestJobsWaitingForTheirTurnAreNotRedelivered: 400 jobs for a target
// limited to 10 calls a second wait up to 40 s for their turn, three times the
// consumer's AckWait (4 x 1 s total timeout + 10 s): the waiting deliveries
// are kept fresh, so each job is called once and delivered, none is
// redelivered or dead-lettered.
func TestJobsWaitingForTheirTurnAreNotRedelivered(t *testing.T) {
	t.Parallel()
	const jobs = 400
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results.ackwait")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"concurrency": 64,
		"rate_limit":  testenv.M{"per_second": 10},
		"timeouts":    testenv.M{"total": "1s"},
	})})))
	msgs := make([]testenv.Msg, jobs)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("wait-%03d", i), ReplyTo: "app.results.ackwait"})
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 90*time.Second, func() (bool, string) {
		return results.Len() >= jobs, fmt.Sprintf("%d of %d results", results.Len(), jobs)
	})
	calls := sink.ByKey()
	for i := range jobs {
		id := fmt.Sprintf("wait-%03d", i)
		if n := len(calls[id]); n != 1 {
			t.Errorf("%s called %d times, want 1", id, n)
		}
		if rs := results.ByID(id); len(rs) != 1 || rs[0].Outcome != schemas.OutcomeDelivered {
			t.Errorf("%s results %+v, want one delivered", id, rs)
		}
	}
	if n := len(testenv.DeadLetters(t, b.JS, "a")); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
	if d := testenv.TargetDeliveries(t, b.JS, "a"); d.Redelivered != 0 || d.Delivered != jobs {
		t.Errorf("consumers delivered %d, %d redelivered; want %d, 0", d.Delivered, d.Redelivered, jobs)
	}
	first, last := calls["wait-000"][0].Arrived, calls[fmt.Sprintf("wait-%03d", jobs-1)][0].Arrived
	t.Logf("first call %s, last %s later (AckWait 14s)", first.Format(time.StampMilli), last.Sub(first).Round(time.Millisecond))
}
