package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestCrashBetweenStoreAndAck kills the service exactly between storing a
// delivery's outcome and acking it (the crashhook build), for each outcome
// stored before an ack: a scheduled retry, a dead letter, a fallback
// record. It is restarted; the original delivery comes back after AckWait
// (14 s here). Each job must end with exactly one outcome and at most one
// extra call. The target answers differently the second time, so a
// redelivered copy that was called again would end the job a second way.
func TestCrashBetweenStoreAndAck(t *testing.T) {
	t.Parallel()
	bin := testenv.CrashHookBinary(t)
	for _, c := range []struct {
		kind string
		// first is the sink's answer to the first call; later calls get 200.
		first int
		// breaker settings (fallback: open after one failure)
		target testenv.M
		// want: calls to the job's key, its results' outcomes in order
		calls    int
		outcomes []string
		// deliveries the consumer makes in all, the redelivery included
		deliveries uint64
	}{
		{kind: "schedule", first: 503, target: testenv.M{"retry": testenv.M{"initial_interval": "1100ms", "randomization": 0}},
			calls: 2, outcomes: []string{schemas.OutcomeDelivered}, deliveries: 3},
		{kind: "dead_letter", first: 400,
			calls: 1, outcomes: []string{schemas.OutcomeDeadLettered}, deliveries: 2},
		{kind: "fallback", first: 503, target: testenv.M{
			"retry":   testenv.M{"max_attempts": 1},
			"breaker": testenv.M{"consecutive_failures": 1, "open_timeout": "1h"}},
			calls: 0, outcomes: []string{schemas.OutcomeFallback}, deliveries: 3},
	} {
		t.Run(c.kind, func(t *testing.T) {
			t.Parallel()
			b := testenv.NewBroker(t)
			sink := testenv.NewSink(t)
			sink.SetBehaviour(testenv.FailFirst(1, c.first))
			results := testenv.Results(t, b.NC, "app.results.crash")
			settings := testenv.Merge(testenv.M{"timeouts": testenv.M{"total": "1s", "response_header": "1s"}}, c.target)
			cfg := testenv.WriteConfig(t, b.Config(
				testenv.M{"fleet": testenv.M{"share_breakers": false}},
				testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, settings)})))
			env := []string{"DISPATCHER_TEST_CRASH_AFTER_STORE=" + c.kind}
			first := testenv.StartProcessEnv(t, bin, env, "serve", "--config", cfg)
			first.WaitReady(t)
			if c.kind == "fallback" {
				// A job of its own opens the breaker (a dead letter: no crash).
				b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "opener", ReplyTo: "app.results.crash"}))
				testenv.Eventually(t, 15*time.Second, func() (bool, string) {
					return len(results.ByID("opener")) == 1, "waiting for the opener's dead letter"
				})
			}
			b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "crash", ReplyTo: "app.results.crash"}))
			if code := first.Wait(t, 20*time.Second); code == 0 {
				t.Fatalf("the service exited %d, want a crash after storing the %s", code, c.kind)
			}
			stored := map[string]int{
				"schedule":    testenv.CountMsgs(t, b.JS, testenv.Topo.SchedStream(), testenv.Topo.SchedWildcard()),
				"dead_letter": len(testenv.DeadLetters(t, b.JS, "a")),
				"fallback":    len(testenv.Fallbacks(t, b.JS, "a")),
			}
			t.Logf("stored before the crash: %v (a fired retry is purged at once)", stored)

			second := testenv.StartProcess(t, bin, "serve", "--config", cfg)
			second.WaitReady(t)
			// The original delivery comes back after AckWait and is settled.
			testenv.Eventually(t, 60*time.Second, func() (bool, string) {
				d := testenv.TargetDeliveries(t, b.JS, "a")
				return d.Delivered >= c.deliveries && d.AckPending == 0 && d.Pending == 0,
					fmt.Sprintf("%d deliveries (want %d), ack pending %d, pending %d", d.Delivered, c.deliveries, d.AckPending, d.Pending)
			})
			if !strings.Contains(second.Stderr(), "outcome already decided by an earlier delivery; redone") {
				t.Error("the restarted service did not recognise the redelivered copy as settled")
			}
			var got []string
			for _, r := range results.ByID("crash") {
				got = append(got, r.Outcome)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.outcomes) {
				t.Errorf("outcomes %v, want %v", got, c.outcomes)
			}
			if n := len(sink.ByKey()["crash"]); n != c.calls {
				t.Errorf("%d calls, want %d", n, c.calls)
			}
			dl, fb := 0, 0
			for _, r := range testenv.DeadLetters(t, b.JS, "a") {
				if r.Header.Get(schemas.HeaderJobID) == "crash" {
					dl++
				}
			}
			for _, r := range testenv.Fallbacks(t, b.JS, "a") {
				if r.Header.Get(schemas.HeaderJobID) == "crash" {
					fb++
				}
			}
			wantDL, wantFB := 0, 0
			switch c.kind {
			case "dead_letter":
				wantDL = 1
			case "fallback":
				wantFB = 1
			}
			if dl != wantDL || fb != wantFB {
				t.Errorf("%d dead letters and %d fallback records for the job, want %d and %d", dl, fb, wantDL, wantFB)
			}
			t.Logf("%s: outcomes %v, %d calls, %d dead letters, %d fallback records", c.kind, got, len(sink.ByKey()["crash"]), dl, fb)
		})
	}
}
