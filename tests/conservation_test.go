package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestConservation checks that under a mixed load every job ends in exactly
// one outcome — delivered, dead-lettered or fallback — and that nothing
// unknown appears.
func TestConservation(t *testing.T) {
	t.Parallel()
	const perTarget = 400
	b := testenv.NewBroker(t)
	paths := map[string]testenv.Behaviour{
		"/ok":    testenv.OK(),
		"/flaky": testenv.FailFirst(1, 503),
		"/bad":   testenv.Status(400),
		"/down":  testenv.Status(503),
	}
	sinks := map[string]*testenv.Sink{}
	targets := testenv.M{}
	for _, name := range []string{"a", "b", "c"} {
		s := testenv.NewSink(t)
		s.SetBehaviour(testenv.ByPath(paths))
		sinks[name] = s
		targets[name] = testenv.Target(s.URL)
	}
	// c has a real breaker and a preset fallback.
	targets["c"] = testenv.Merge(targets["c"].(testenv.M), testenv.M{
		"breaker":  testenv.M{"consecutive_failures": 5, "open_timeout": "300ms"},
		"fallback": testenv.M{"status": 202, "body": testenv.M{"queued": true}},
	})
	results := testenv.Results(t, b.NC, "app.results.cons")
	testenv.RunService(t, b.Config(testenv.Targets(targets)))

	order := []string{"/ok", "/flaky", "/bad", "/down"}
	pathOf := map[string]string{}
	targetOf := map[string]string{}
	var msgs []testenv.Msg
	for i := range perTarget {
		for _, tg := range []string{"a", "b", "c"} {
			p := order[i%len(order)]
			job := schemas.Job{ID: fmt.Sprintf("cons-%s-%04d", tg, i), Path: p, ReplyTo: "app.results.cons"}
			if p == "/down" {
				job.MaxAttempts = 2
			}
			pathOf[job.ID], targetOf[job.ID] = p, tg
			msgs = append(msgs, testenv.JobMsg(tg, job))
		}
	}
	total := len(msgs)
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 90*time.Second, func() (bool, string) {
		return results.Distinct() >= total, fmt.Sprintf("results for %d of %d jobs", results.Distinct(), total)
	})
	dls := testenv.DeadLetters(t, b.JS, "")
	fbs := testenv.Fallbacks(t, b.JS, "")

	outcome := map[string][]string{} // job id -> where it ended
	for _, r := range results.All() {
		if r.Outcome == schemas.OutcomeDelivered {
			outcome[r.JobID] = append(outcome[r.JobID], "delivered")
		}
	}
	for _, d := range dls {
		outcome[d.Header.Get("Dispatch-Job-Id")] = append(outcome[d.Header.Get("Dispatch-Job-Id")], "dead:"+d.Rec.Reason)
	}
	for _, f := range fbs {
		outcome[f.Header.Get("Dispatch-Job-Id")] = append(outcome[f.Header.Get("Dispatch-Job-Id")], "fallback")
	}
	counts := map[string]int{}
	for id, where := range outcome {
		if _, ok := pathOf[id]; !ok {
			t.Errorf("unknown job %q appeared as %v", id, where)
			continue
		}
		if len(where) != 1 {
			t.Errorf("%s ended %d times: %v", id, len(where), where)
			continue
		}
		counts[targetOf[id]+" "+pathOf[id]+" -> "+where[0]]++
		if !expectedOutcome(targetOf[id], pathOf[id], where[0]) {
			t.Errorf("%s (%s %s) ended as %s", id, targetOf[id], pathOf[id], where[0])
		}
	}
	for id := range pathOf {
		if len(outcome[id]) == 0 {
			t.Errorf("%s has no outcome", id)
		}
	}
	for _, r := range results.All() {
		if len(results.ByID(r.JobID)) != 1 {
			t.Errorf("%s has %d results", r.JobID, len(results.ByID(r.JobID)))
		}
		if w := outcome[r.JobID]; len(w) == 1 && !sameOutcome(r.Outcome, w[0]) {
			t.Errorf("%s: result says %s, records say %s", r.JobID, r.Outcome, w[0])
		}
	}
	if bad := results.Undecodable(); len(bad) > 0 {
		t.Errorf("%d undecodable results, e.g. %q", len(bad), bad[0])
	}
	t.Logf("%d jobs: %d dead letters, %d fallback records; %v", total, len(dls), len(fbs), counts)
	if counts["c /down -> fallback"]+counts["c /ok -> fallback"]+counts["c /flaky -> fallback"] == 0 {
		t.Errorf("c's breaker never opened: the fallback path was not exercised")
	}
}

// expectedOutcome says whether a job of target on path may end as where.
func expectedOutcome(target, path, where string) bool {
	if target == "c" && where == "fallback" {
		return true // any job may meet c's open breaker
	}
	switch path {
	case "/ok", "/flaky":
		return where == "delivered"
	case "/bad":
		return where == "dead:non_retryable"
	case "/down":
		return where == "dead:exhausted"
	}
	return false
}

func sameOutcome(resultOutcome, where string) bool {
	switch resultOutcome {
	case schemas.OutcomeDelivered:
		return where == "delivered"
	case schemas.OutcomeFallback:
		return where == "fallback"
	case schemas.OutcomeDeadLettered:
		return len(where) > 5 && where[:5] == "dead:"
	}
	return false
}
