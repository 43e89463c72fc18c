package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestJobsWaitingForTheirTurnAreNotRedelivered: 400 jobs for a target
// limited to 10 calls a second wait up to 40 s for their turn, more than the
// consumers' AckWait (30 s): the deliveries waiting in the lane are kept
// fresh, the ones whose turn is further off are parked until it comes, so
// each job is called once and delivered, none is redelivered or
// dead-lettered, and the rate holds.
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
	d := testenv.TargetDeliveries(t, b.JS, "a")
	if d.Redelivered != 0 || d.Delivered < jobs {
		t.Errorf("consumers delivered %d, %d redelivered; want at least %d (parked jobs are delivered again), 0", d.Delivered, d.Redelivered, jobs)
	}
	first, last := sink.Calls()[0].Arrived, sink.Calls()[sink.Count()-1].Arrived
	if span := last.Sub(first); span < (jobs-20)*time.Second/10 {
		t.Errorf("%d calls in %s: over the rate limit of 10/s", jobs, span)
	}
	t.Logf("%d calls from %s over %s (AckWait %s); %d deliveries for %d jobs (the others parked copies)",
		sink.Count(), first.Format(time.StampMilli), last.Sub(first).Round(time.Millisecond), d.AckWait, d.Delivered, jobs)
}
