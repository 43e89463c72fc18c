package tests

import (
	"fmt"
	"net/http"
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
// spellings of its address and through the localhost names (localhost,
// localhost., api.localhost; all decided before DNS) is refused every time,
// without a call. Only loopback forms run end to end; every other forbidden
// address is tested at the decision function (worker.CheckHost, CheckAddr).
// Names that resolve to a forbidden address, and DNS rebinding, are refused
// at the dial: worker/ssrf_dns_test.go, with a test resolver.
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

// TestRedirectNotFollowed: a target answering a redirect to a second
// loopback server (standing in for http://169.254.169.254/, which no test
// may risk dialing) gets one call per job; the second server gets none,
// whatever the code, and each job is dead-lettered non_retryable after one
// attempt with the 3xx as its last status. The target is let through the
// guard by allow_private, so only the client's redirect policy stands
// between the call and the second server.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	target, inner := testenv.NewSink(t), testenv.NewSink(t)
	codes := []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect}
	paths := map[string]testenv.Behaviour{}
	for _, c := range codes {
		paths[fmt.Sprintf("/r%d", c)] = testenv.Redirect(c, inner.URL+"/latest/meta-data/iam/security-credentials/")
	}
	target.SetBehaviour(testenv.ByPath(paths))
	testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"allow_private_networks": false}},
		testenv.Targets(testenv.M{"a": testenv.Target(target.URL, testenv.M{
			"allow_private": true,
			"retry":         testenv.M{"max_attempts": 5, "initial_interval": "50ms"},
		})}),
	))
	for _, c := range codes {
		b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("redir-%d", c), Method: http.MethodPost,
			Path: fmt.Sprintf("/r%d", c), Body: []byte(`{"x":1}`)}))
	}
	dls := testenv.WaitDeadLetters(t, b.JS, "a", len(codes), 15*time.Second)
	byID := map[string]schemas.DeadLetter{}
	for _, d := range dls {
		byID[d.Header.Get("Dispatch-Job-Id")] = d.Rec
	}
	byKey := target.ByKey()
	for _, c := range codes {
		id := fmt.Sprintf("redir-%d", c)
		d, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("%d: no dead letter", c)
		case d.Reason != schemas.ReasonNonRetryable || d.LastStatus != c || d.Attempts != 1 ||
			!strings.Contains(d.Error, "redirects are not followed"):
			t.Errorf("%d: reason %q last_status %d attempts %d error %q, want non_retryable %d after 1 attempt, redirect not followed",
				c, d.Reason, d.LastStatus, d.Attempts, d.Error, c)
		}
		if n := len(byKey[id]); n != 1 {
			t.Errorf("%d: %d calls to the target, want 1", c, n)
		}
	}
	// A followed redirect would be made inside the attempt, before its
	// dead letter was written: nothing can still be on its way.
	if n := inner.Count(); n != 0 {
		t.Errorf("%d calls reached the redirect's Location", n)
	}
}
