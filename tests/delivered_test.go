package tests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestDelivered checks what a target receives for a job and the result of a
// delivered job.
func TestDelivered(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	results := testenv.Results(t, b.NC, "app.results.delivered")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)})))

	raw := []byte{0x00, 0xff, 0x10, 'h', 'i', 0x80}
	const parentTrace = "0af7651916cd43dd8448eb211c80319c"
	tests := []struct {
		name   string
		job    schemas.Job
		header nats.Header
		check  func(t *testing.T, c testenv.Call)
	}{
		{
			name: "json body",
			job: schemas.Job{
				ID: "deliv-json", Path: "/v1/charges?src=queue",
				Headers: map[string]string{"X-Custom": "abc"},
				Body:    json.RawMessage(`{"amount":100}`),
				TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Meta: json.RawMessage(`{"order":1001}`),
			},
			check: func(t *testing.T, c testenv.Call) {
				if c.Method != "POST" {
					t.Errorf("method %s, want POST (the default)", c.Method)
				}
				if c.Path != "/v1/charges?src=queue" {
					t.Errorf("path %q, want /v1/charges?src=queue", c.Path)
				}
				if got := c.Header.Get("X-Custom"); got != "abc" {
					t.Errorf("X-Custom %q, want abc", got)
				}
				if got := c.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type %q, want application/json", got)
				}
				var body map[string]any
				if err := json.Unmarshal(c.Body, &body); err != nil || body["amount"] != float64(100) {
					t.Errorf("body %q, want {\"amount\":100}", c.Body)
				}
				if tp := c.Header.Get("Traceparent"); !strings.Contains(tp, "-4bf92f3577b34da6a3ce929d0e0e4736-") {
					t.Errorf("traceparent %q does not carry the job's trace_id", tp)
				}
			},
		},
		{
			name: "body_base64",
			job:  schemas.Job{ID: "deliv-b64", Method: "PUT", Path: "/blob", BodyBase64: base64.StdEncoding.EncodeToString(raw)},
			check: func(t *testing.T, c testenv.Call) {
				if c.Method != "PUT" {
					t.Errorf("method %s, want PUT", c.Method)
				}
				if !bytes.Equal(c.Body, raw) {
					t.Errorf("body %x, want the raw bytes %x", c.Body, raw)
				}
				if ct := c.Header.Get("Content-Type"); ct == "application/json" {
					t.Errorf("raw bytes sent as %s", ct)
				}
			},
		},
		{
			name:   "traceparent header",
			job:    schemas.Job{ID: "deliv-get", Method: "GET", Path: "/status"},
			header: nats.Header{"Traceparent": {"00-" + parentTrace + "-b7ad6b7169203331-01"}},
			check: func(t *testing.T, c testenv.Call) {
				if c.Method != "GET" || len(c.Body) != 0 {
					t.Errorf("%s with %d body bytes, want GET without a body", c.Method, len(c.Body))
				}
				if tp := c.Header.Get("Traceparent"); !strings.Contains(tp, "-"+parentTrace+"-") {
					t.Errorf("traceparent %q does not carry the message's trace id", tp)
				}
			},
		},
	}
	for _, tc := range tests {
		tc.job.ReplyTo = "app.results.delivered"
		m := testenv.JobMsg("a", tc.job)
		m.Header = tc.header
		b.Publish(t, m)
	}
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return results.Len() >= len(tests), "waiting for results"
	})

	byKey := sink.ByKey()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := byKey[tc.job.ID]
			if len(calls) != 1 {
				t.Fatalf("%d calls with Idempotency-Key %s, want 1", len(calls), tc.job.ID)
			}
			c := calls[0]
			if tp := c.Header.Get("Traceparent"); tp == "" {
				t.Error("no traceparent sent")
			}
			tc.check(t, c)
			rs := results.ByID(tc.job.ID)
			if len(rs) != 1 {
				t.Fatalf("%d results, want 1", len(rs))
			}
			r := rs[0]
			if r.Outcome != schemas.OutcomeDelivered || r.Status != 200 || r.Attempts != 1 || r.Target != "a" {
				t.Errorf("result %+v, want delivered, status 200, attempts 1, target a", r)
			}
			if want := string(tc.job.Meta); want != "" && !jsonEqual(r.Meta, tc.job.Meta) {
				t.Errorf("result meta %s, want %s", r.Meta, want)
			}
			if tc.job.TraceID != "" && r.TraceID != tc.job.TraceID {
				t.Errorf("result trace_id %q, want %q", r.TraceID, tc.job.TraceID)
			}
			if tc.header != nil && r.TraceID != parentTrace {
				t.Errorf("result trace_id %q, want the traceparent's %q", r.TraceID, parentTrace)
			}
			if r.Body == "" {
				t.Error("result has no response body")
			}
		})
	}
}

// TestDeliveredWithUnreadableBody: a 2xx whose body breaks off is a
// success the target completed: delivered with what was read, never called
// again.
func TestDeliveredWithUnreadableBody(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.CutBody())
	results := testenv.Results(t, b.NC, "app.results.cutbody")
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"retry": testenv.M{"initial_interval": "100ms"},
	})})))
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "cut-body", ReplyTo: "app.results.cutbody"}))
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return results.Len() >= 1, "waiting for the result"
	})
	r := results.ByID("cut-body")[0]
	if r.Outcome != schemas.OutcomeDelivered || r.Status != 200 || r.Attempts != 1 {
		t.Errorf("result %+v, want delivered, status 200, attempts 1", r)
	}
	if r.Body != "0123456789" {
		t.Errorf("result body %q, want the 10 bytes that came", r.Body)
	}
	// Delivered and acked: no call can follow the first.
	if n := len(sink.ByKey()["cut-body"]); n != 1 {
		t.Errorf("%d calls, want 1 (a completed 2xx is never repeated)", n)
	}
}
