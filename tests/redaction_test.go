package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestRedaction checks that secret headers reach the target intact and
// appear only as "[REDACTED]" in dead letters, results and logs.
func TestRedaction(t *testing.T) {
	t.Parallel()
	const (
		targetSecret   = "Bearer tgt-secret-1a2b"
		tenantSecret   = "tgt-tenant-7a8b"
		apiKeySecret   = "job-apikey-3c4d"
		internalSecret = "internal-tok-5e6f"
		jobTenant      = "job-tenant-9c0d" // a job's value of a header the target config sets
	)
	secrets := []string{"tgt-secret-1a2b", tenantSecret, apiKeySecret, internalSecret, jobTenant}
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.ByPath(map[string]testenv.Behaviour{"/reject": testenv.Status(400)}))
	results := testenv.Results(t, b.NC, "app.results")
	log, logs := testenv.NewLogger(zapcore.DebugLevel)
	testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"redact_headers": []string{"X-Internal-Token"}}},
		testenv.Targets(testenv.M{
			"a": testenv.Target(sink.URL, testenv.M{
				"headers": testenv.M{"Authorization": targetSecret, "X-Tenant-Token": tenantSecret},
				"retry":   testenv.M{"max_attempts": 1},
			}),
			// fb trips its breaker on one refused connection: its next job
			// gets a fallback record.
			"fb": testenv.Target("http://"+testenv.RefusedAddr(t), testenv.M{
				"headers": testenv.M{"X-Tenant-Token": tenantSecret},
				"retry":   testenv.M{"max_attempts": 1},
				"breaker": testenv.M{"consecutive_failures": 1, "open_timeout": "1m"},
			}),
		}),
	), dispatcher.WithLogger(log))

	headers := map[string]string{"X-Api-Key": apiKeySecret, "x-internal-token": internalSecret, "X-Tenant-Token": jobTenant, "X-Visible": "plain"}
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "red-dead", Path: "/reject", Headers: headers, ReplyTo: "app.results"}))
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "red-ok", Path: "/accept", Headers: headers, ReplyTo: "app.results"}))
	invalid, _ := json.Marshal(map[string]any{"id": "red-invalid", "colour": "red", "headers": headers, "reply_to": "app.results"})
	b.Publish(t, testenv.RawMsg("a", "red-invalid", invalid))

	b.Publish(t, testenv.JobMsg("fb", schemas.Job{ID: "red-fb-1", Headers: headers, ReplyTo: "app.results"}))
	testenv.WaitDeadLetters(t, b.JS, "fb", 1, 15*time.Second)
	b.Publish(t, testenv.JobMsg("fb", schemas.Job{ID: "red-fb-2", Headers: headers, ReplyTo: "app.results"}))
	fbs := testenv.WaitFallbacks(t, b.JS, "fb", 1, 15*time.Second)
	dls := testenv.WaitDeadLetters(t, b.JS, "", 3, 15*time.Second)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return results.Len() >= 4, fmt.Sprintf("%d results", results.Len())
	})

	for _, c := range sink.Calls() {
		if got := c.Header.Get("Authorization"); got != targetSecret {
			t.Errorf("%s: target received Authorization %q, want the configured value", c.Key, got)
		}
		if got := c.Header.Get("X-Api-Key"); got != apiKeySecret {
			t.Errorf("%s: target received X-Api-Key %q", c.Key, got)
		}
		if got := c.Header.Get("X-Internal-Token"); got != internalSecret {
			t.Errorf("%s: target received X-Internal-Token %q", c.Key, got)
		}
		if got := c.Header.Get("X-Tenant-Token"); got != tenantSecret {
			t.Errorf("%s: target received X-Tenant-Token %q, want the target's configured value", c.Key, got)
		}
	}
	if n := sink.Count(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}

	records := map[string]json.RawMessage{}
	for _, d := range dls {
		assertNoSecret(t, "dead letter", d.Data, secrets)
		records["dead letter "+d.Header.Get("Dispatch-Job-Id")] = d.Rec.Job
	}
	for _, f := range fbs {
		assertNoSecret(t, "fallback record", f.Data, secrets)
		records["fallback "+f.Header.Get("Dispatch-Job-Id")] = f.Rec.Job
	}
	for name, raw := range records {
		t.Run(name, func(t *testing.T) {
			var job struct {
				Headers map[string]string `json:"headers"`
			}
			if err := json.Unmarshal(raw, &job); err != nil {
				t.Fatalf("record job %s: %v", raw, err)
			}
			for h, v := range job.Headers {
				want := "[REDACTED]"
				if strings.EqualFold(h, "X-Visible") {
					want = "plain"
				}
				if v != want {
					t.Errorf("record header %s = %q, want %q", h, v, want)
				}
			}
			if len(job.Headers) != len(headers) {
				t.Errorf("record headers %v, want the job's %d names", job.Headers, len(headers))
			}
		})
	}
	for _, raw := range results.Raw() {
		assertNoSecret(t, "result", raw, secrets)
	}
	// The attempts were logged (at debug level) before the records above
	// were written.
	assertNoSecret(t, "logs", []byte(logs.String()), secrets)
	if !strings.Contains(logs.String(), "red-dead") {
		t.Errorf("logs do not mention the jobs: nothing was checked")
	}
}

func assertNoSecret(t *testing.T, where string, data []byte, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("%s holds the secret %q: %s", where, s, data)
		}
	}
}
