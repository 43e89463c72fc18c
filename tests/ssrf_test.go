package tests

import (
	"fmt"
	"strings"
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

// TestSSRFBlockedSpellings: the loopback sink reached through other
// spellings of its address (decided before DNS) and through a DNS name that
// resolves to it (decided after DNS, at the dial) is refused every time,
// without a call. Only loopback forms run end to end; every other forbidden
// address is tested at the decision function (worker.CheckHost, CheckAddr).
func TestSSRFBlockedSpellings(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	port := sink.URL[strings.LastIndex(sink.URL, ":")+1:]
	spellings := map[string]string{
		"dotted":      "127.0.0.1",
		"short":       "127.1",
		"decimal":     "2130706433",
		"hex":         "0x7f000001",
		"octal":       "0177.0.0.1",
		"mapped":      "[::ffff:127.0.0.1]",
		"localhost":   "localhost",
		"localhost.":  "localhost.",
		"sub-domain":  "api.localhost",
		"v6 loopback": "[::1]",
	}
	targets := testenv.M{}
	names := map[string]string{}
	i := 0
	for what, host := range spellings {
		i++
		name := fmt.Sprintf("t%d", i)
		names[name] = what
		targets[name] = testenv.Target("http://"+host+":"+port, testenv.M{"retry": testenv.M{"max_attempts": 3}})
	}
	testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"allow_private_networks": false}},
		testenv.Targets(targets),
	))
	for name := range names {
		b.Publish(t, testenv.JobMsg(name, schemas.Job{ID: "ssrf-" + name}))
	}
	for name, what := range names {
		d := testenv.WaitDeadLetters(t, b.JS, name, 1, 15*time.Second)[0].Rec
		if d.Reason != schemas.ReasonNonRetryable || d.ErrorClass != "ssrf_blocked" || d.Attempts != 1 {
			t.Errorf("%s (%s): reason %q class %q attempts %d (%s), want non_retryable ssrf_blocked after 1 attempt",
				what, spellings[what], d.Reason, d.ErrorClass, d.Attempts, d.Error)
		}
	}
	if n := sink.Count(); n != 0 {
		t.Errorf("%d calls reached the loopback target", n)
	}
}
