package tests

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestAllowPrivatePerTarget: with the service-wide guard on, a target with
// allow_private: true reaches its loopback endpoint while another loopback
// target stays blocked (ssrf_blocked, no call).
func TestAllowPrivatePerTarget(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	open, guarded := testenv.NewSink(t), testenv.NewSink(t)
	testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"allow_private_networks": false}},
		testenv.Targets(testenv.M{
			"open":    testenv.Target(open.URL, testenv.M{"allow_private": true}),
			"guarded": testenv.Target(guarded.URL, testenv.M{"retry": testenv.M{"max_attempts": 3}}),
		}),
	))
	b.Publish(t, testenv.JobMsg("open", schemas.Job{ID: "ap-open"}))
	b.Publish(t, testenv.JobMsg("guarded", schemas.Job{ID: "ap-guarded"}))
	testenv.Eventually(t, 15*time.Second, func() (bool, string) { return open.Count() == 1, "waiting for the allowed call" })
	d := testenv.WaitDeadLetters(t, b.JS, "guarded", 1, 15*time.Second)[0].Rec
	if d.ErrorClass != "ssrf_blocked" || d.Attempts != 1 {
		t.Errorf("guarded target: class %q attempts %d (%s), want ssrf_blocked after 1 attempt", d.ErrorClass, d.Attempts, d.Error)
	}
	if n := guarded.Count(); n != 0 {
		t.Errorf("%d calls reached the guarded loopback target", n)
	}
	testenv.WaitSettled(t, b.JS, "open", 1, 10*time.Second)
	if n := len(testenv.DeadLetters(t, b.JS, "open")); n != 0 {
		t.Errorf("allowed target has %d dead letters", n)
	}
}

// TestSigningPerTarget: a signed target receives the Standard Webhooks
// headers on every attempt, the signature verifies over the body it
// received, and an unsigned target gets none; the secret is not logged.
func TestSigningPerTarget(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	t.Setenv("ACCESS_TEST_WEBHOOK_SECRET", secret)
	b := testenv.NewBroker(t)
	signed, plain := testenv.NewSink(t), testenv.NewSink(t)
	signed.SetBehaviour(testenv.FailFirst(1, 503))
	svc := testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"allow_private_networks": true}},
		testenv.Targets(testenv.M{
			"signed": testenv.Target(signed.URL, testenv.M{
				"signing": testenv.M{"secret": "${ACCESS_TEST_WEBHOOK_SECRET}"},
				"retry":   testenv.M{"initial_interval": "50ms", "randomization": 0},
			}),
			"plain": testenv.Target(plain.URL),
		}),
	))
	body := []byte(`{"order":42,"note":"ü"}`)
	b.Publish(t, testenv.JobMsg("signed", schemas.Job{ID: "sig-1", Body: body}))
	b.Publish(t, testenv.JobMsg("plain", schemas.Job{ID: "sig-2", Body: body}))
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return signed.Count() == 2 && plain.Count() == 1, "waiting for two signed attempts and one plain call"
	})
	for i, c := range signed.Calls() {
		id, ts, sig := c.Header.Get("Webhook-Id"), c.Header.Get("Webhook-Timestamp"), c.Header.Get("Webhook-Signature")
		if id != "sig-1" {
			t.Errorf("attempt %d: webhook-id %q, want the job id", i+1, id)
		}
		unix, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(unix, 0)).Abs() > time.Minute {
			t.Errorf("attempt %d: webhook-timestamp %q is not now", i+1, ts)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(c.Body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if sig != want {
			t.Errorf("attempt %d: webhook-signature %q, want %q for body %q", i+1, sig, want, c.Body)
		}
	}
	if h := plain.Calls()[0].Header; h.Get("Webhook-Signature") != "" || h.Get("Webhook-Id") != "" {
		t.Errorf("unsigned target got webhook headers %v", h)
	}
	if strings.Contains(svc.Logs.String(), secret) || strings.Contains(svc.Logs.String(), strings.TrimPrefix(secret, "whsec_")) {
		t.Errorf("the signing secret is in the logs")
	}
}
