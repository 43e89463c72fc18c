package tests

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestRetryAfterSend: retry.after_send decides what happens to a failure
// that came after the request may have reached the target, measured on
// real connections: a target that reads the request and resets, and an
// address that refuses the connection.
func TestRetryAfterSend(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	var requests atomic.Int32
	resetter := testenv.TCPServer(t, func(c net.Conn, _ <-chan struct{}) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		requests.Add(1)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
	})
	refused := testenv.RefusedAddr(t)
	retry := testenv.M{"max_attempts": 2, "initial_interval": "100ms"}
	with := func(policy string) testenv.M {
		r := testenv.Merge(retry, testenv.M{"after_send": policy})
		return testenv.M{"retry": r, "breaker": testenv.M{"consecutive_failures": 100}}
	}
	results := testenv.Results(t, b.NC, "app.results.aftersend")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{
		"never":      testenv.Target("http://"+resetter, with(schemas.AfterSendNever)),
		"idempotent": testenv.Target("http://"+resetter, with(schemas.AfterSendIdempotent)),
		"always":     testenv.Target("http://"+resetter, with(schemas.AfterSendRetry)),
		"refused":    testenv.Target("http://"+refused, with(schemas.AfterSendNever)),
	})))
	cases := []struct {
		target, id, method string
		attempts           int
		reason             string
		sent               bool
	}{
		{"never", "as-never", "POST", 1, schemas.ReasonNonRetryable, true},
		{"idempotent", "as-idem-post", "POST", 1, schemas.ReasonNonRetryable, true},
		{"idempotent", "as-idem-put", "PUT", 2, schemas.ReasonExhausted, true},
		{"always", "as-always", "POST", 2, schemas.ReasonExhausted, true},
		{"refused", "as-refused", "POST", 2, schemas.ReasonExhausted, false},
	}
	for _, c := range cases {
		b.Publish(t, testenv.JobMsg(c.target, schemas.Job{ID: c.id, Method: c.method, ReplyTo: "app.results.aftersend"}))
	}
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return results.Len() >= len(cases), "waiting for every job's result"
	})
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			dls := testenv.DeadLetters(t, b.JS, c.target)
			var rec *schemas.DeadLetter
			for _, d := range dls {
				if d.Header.Get(schemas.HeaderJobID) == c.id {
					rec = &d.Rec
				}
			}
			if rec == nil {
				t.Fatalf("no dead letter for %s", c.id)
			}
			if rec.Attempts != c.attempts || rec.Reason != c.reason {
				t.Errorf("dead letter after %d attempts, reason %s; want %d, %s (error %q)", rec.Attempts, rec.Reason, c.attempts, c.reason, rec.Error)
			}
			for _, a := range rec.History {
				if a.Sent == nil || *a.Sent != c.sent {
					t.Errorf("attempt %d (%s) sent=%v, want %v", a.Attempt, a.ErrorClass, a.Sent, c.sent)
				}
			}
		})
	}
	if n := requests.Load(); n != 1+1+2+2 {
		t.Errorf("the resetting target read %d requests, want 6 (never 1, idempotent POST 1, PUT 2, always 2)", n)
	}
}
