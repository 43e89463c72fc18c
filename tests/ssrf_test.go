package tests

import (
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestSSRFBlocked checks that with allow_private_networks false a loopback
// endpoint is refused before any connection: non_retryable, ssrf_blocked.
func TestSSRFBlocked(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results")
	testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"allow_private_networks": false}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{"retry": testenv.M{"max_attempts": 5}})}),
	))

	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "ssrf-1", ReplyTo: "app.results"}))
	d := testenv.WaitDeadLetters(t, b.JS, "a", 1, 15*time.Second)[0].Rec
	if d.Reason != schemas.ReasonNonRetryable || d.ErrorClass != "ssrf_blocked" || d.Attempts != 1 {
		t.Errorf("reason %q class %q attempts %d (%s), want non_retryable ssrf_blocked after 1 attempt", d.Reason, d.ErrorClass, d.Attempts, d.Error)
	}
	testenv.Eventually(t, 5*time.Second, func() (bool, string) { return results.Len() == 1, "waiting for the result" })
	if r := results.ByID("ssrf-1"); len(r) != 1 || r[0].ErrorClass != "ssrf_blocked" {
		t.Errorf("results %+v", r)
	}
	if n := sink.Count(); n != 0 {
		t.Errorf("%d calls reached the loopback target", n)
	}
}
