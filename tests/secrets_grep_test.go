package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap/zapcore"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestSecretsGrep plants a distinct secret in every place a secret can come
// from (a target's configured headers, one of them through ${ENV}; a job
// header that is always secret; a job header named in
// security.redact_headers; NATS credentials in DISPATCHER_* variables), runs
// jobs to every outcome and greps for each secret everywhere the service
// writes: its debug logs, dead-letter and fallback records (payload, decoded
// raw bytes, headers), results, /metrics (behind http.token, itself a
// secret) and the --help of every command.
// The target must still receive the real values.
func TestSecretsGrep(t *testing.T) {
	// Not parallel: t.Setenv.
	const (
		envToken     = "env-token-S1x9q"     // Authorization of target a, from ${ENV}
		tenantToken  = "cfg-tenant-S2k7w"    // a literal header of target a's config
		fbToken      = "cfg-fb-S3m4r"        // a literal header of target fb's config
		apiKey       = "job-apikey-S4p2z"    // X-Api-Key on a job: always secret
		internalTok  = "job-internal-S5t8v"  // X-Internal-Token on a job: redact_headers
		natsPassword = "nats-pass-S6c3n"     // in DISPATCHER_NATS_URL
		credsPath    = "creds-path-S7h5d"    // in DISPATCHER_CREDS
		httpToken    = "http-token-S8w6j0xq" // http.token: the listener's bearer token
		envVar       = "DISPATCH_GREP_TOKEN" // the variable ${ENV} reads
	)
	secrets := []string{envToken, tenantToken, fbToken, apiKey, internalTok, natsPassword, credsPath, httpToken}
	t.Setenv(envVar, envToken)

	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.ByPath(map[string]testenv.Behaviour{
		"/ok":     testenv.OK(),
		"/reject": testenv.Status(http.StatusBadRequest),
		"/flaky":  testenv.Status(http.StatusServiceUnavailable),
	}))
	results := testenv.Results(t, b.NC, "app.results")
	log, logs := testenv.NewLogger(zapcore.DebugLevel)
	svc := testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"redact_headers": []string{"X-Internal-Token"}}, "http": testenv.M{"token": httpToken}},
		testenv.Targets(testenv.M{
			"a": testenv.Target(sink.URL, testenv.M{
				"headers": testenv.M{"Authorization": "Bearer ${" + envVar + "}", "X-Tenant-Token": tenantToken},
				"retry":   testenv.M{"max_attempts": 2, "initial_interval": "50ms"},
			}),
			// fb trips its breaker on one refused connection: its next job
			// gets a fallback record.
			"fb": testenv.Target("http://"+testenv.RefusedAddr(t), testenv.M{
				"headers":  testenv.M{"Authorization": "Bearer " + fbToken},
				"retry":    testenv.M{"max_attempts": 1},
				"breaker":  testenv.M{"consecutive_failures": 1, "open_timeout": "1m"},
				"fallback": testenv.M{"status": 202, "body": testenv.M{"queued": true}},
			}),
		}),
	), dispatcher.WithLogger(log))

	headers := map[string]string{"X-Api-Key": apiKey, "X-Internal-Token": internalTok, "X-Visible": "plain"}
	job := func(id, path string) schemas.Job {
		return schemas.Job{ID: id, Path: path, Headers: headers, ReplyTo: "app.results", Meta: json.RawMessage(`{"k":"v"}`)}
	}
	b.Publish(t, testenv.JobMsg("a", job("sg-ok", "/ok")))
	b.Publish(t, testenv.JobMsg("a", job("sg-reject", "/reject")))
	b.Publish(t, testenv.JobMsg("a", job("sg-flaky", "/flaky")))
	// A schema violation (unknown field) and bytes that are not JSON at all
	// (kept as raw in the record), both carrying the job secrets.
	invalid, _ := json.Marshal(map[string]any{"id": "sg-invalid", "colour": "red", "headers": headers, "reply_to": "app.results"})
	b.Publish(t, testenv.RawMsg("a", "sg-invalid", invalid))
	undecodable := []byte(`{"id":"sg-garbage","headers":{"X-Api-Key":"` + apiKey + `","X-Internal-Token":"` + internalTok + `"`)
	b.Publish(t, testenv.RawMsg("a", "sg-garbage", undecodable))

	// The same to a target nobody configured: dead-lettered by the orphan
	// scan after orphan_grace, not by a worker.
	b.Publish(t, testenv.JobMsg("ghost", job("sg-ghost", "/")))
	ghostInvalid, _ := json.Marshal(map[string]any{"id": "sg-ghost-invalid", "colour": "red", "headers": headers})
	b.Publish(t, testenv.RawMsg("ghost", "sg-ghost-invalid", ghostInvalid))

	b.Publish(t, testenv.JobMsg("fb", job("sg-fb-1", "/")))
	testenv.WaitDeadLetters(t, b.JS, "fb", 1, 15*time.Second)
	b.Publish(t, testenv.JobMsg("fb", job("sg-fb-2", "/")))
	fbs := testenv.WaitFallbacks(t, b.JS, "fb", 1, 15*time.Second)
	// a: reject, flaky (exhausted), invalid, garbage; fb: fb-1; ghost: 2.
	dls := testenv.WaitDeadLetters(t, b.JS, "", 7, 20*time.Second)
	// ok, reject, flaky, fb-1, fb-2 (and invalid when its reply_to is read).
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return results.Len() >= 5, fmt.Sprintf("%d results, want 5", results.Len())
	})

	// Every outcome was produced.
	reasons := map[string]bool{}
	for _, d := range dls {
		reasons[d.Rec.Reason] = true
	}
	for _, r := range []string{"exhausted", "non_retryable", "invalid", "unknown_target"} {
		if !reasons[r] {
			t.Errorf("no dead letter with reason %s (have %v): that path was not checked", r, reasons)
		}
	}
	outcomes := map[string]bool{}
	for _, r := range results.All() {
		outcomes[r.Outcome] = true
	}
	for _, o := range []string{"delivered", "dead_lettered", "fallback"} {
		if !outcomes[o] {
			t.Errorf("no result with outcome %s (have %v)", o, outcomes)
		}
	}

	// The target received the real values.
	if n := sink.Count(); n != 4 { // ok, reject, flaky twice
		t.Errorf("%d calls, want 4", n)
	}
	for _, c := range sink.Calls() {
		want := map[string]string{
			"Authorization": "Bearer " + envToken, "X-Tenant-Token": tenantToken,
			"X-Api-Key": apiKey, "X-Internal-Token": internalTok,
		}
		for h, v := range want {
			if got := c.Header.Get(h); got != v {
				t.Errorf("%s: target received %s %q, want %q", c.Key, h, got, v)
			}
		}
	}

	find := func(where string, data []byte) []string {
		var hits []string
		for _, s := range secrets {
			if i := bytes.Index(data, []byte(s)); i >= 0 {
				lo, hi := max(0, i-120), min(len(data), i+len(s)+40)
				hits = append(hits, fmt.Sprintf("%s holds the secret %q: …%s…", where, s, data[lo:hi]))
			}
		}
		return hits
	}
	grep := func(where string, data []byte) {
		t.Helper()
		for _, h := range find(where, data) {
			t.Errorf("LEAK: %s", h)
		}
	}
	grepHeaders := func(where string, h nats.Header) {
		t.Helper()
		for k, vs := range h {
			for _, v := range vs {
				grep(fmt.Sprintf("%s header %s", where, k), []byte(k+": "+v))
			}
		}
	}
	var rawLeaks []string
	for _, d := range dls {
		where := fmt.Sprintf("DISPATCH_DLQ seq %d (%s, job %s)", d.Seq, d.Subject, d.Header.Get("Dispatch-Job-Id"))
		grep(where, d.Data)
		grepHeaders(where, d.Header)
		rawLeaks = append(rawLeaks, find(where+" raw", d.Rec.Raw)...)
	}
	t.Run("dead-letter raw bytes", func(t *testing.T) {
		if len(rawLeaks) > 0 {
			t.Error("LEAK: secrets in the raw field of dead letters:\n" + strings.Join(rawLeaks, "\n"))
		}
	})
	for _, f := range fbs {
		where := fmt.Sprintf("DISPATCH_FALLBACK seq %d (%s, job %s)", f.Seq, f.Subject, f.Header.Get("Dispatch-Job-Id"))
		grep(where, f.Data)
		grepHeaders(where, f.Header)
	}
	for i, raw := range results.Raw() {
		grep(fmt.Sprintf("result %d on app.results", i), raw)
	}

	code, _, body := httpDo(t, "GET", svc.HTTPAddr(), "/metrics", httpToken)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics with http.token: %d", code)
	}
	metrics := []byte(body)
	grep("GET /metrics", metrics)
	code, _, body = httpDo(t, "GET", svc.HTTPAddr(), "/metrics", "")
	grep("GET /metrics without the token", []byte(body))
	if code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without http.token: %d, want 401", code)
	}
	if !bytes.Contains(metrics, []byte("dispatcher_jobs_total")) {
		t.Errorf("/metrics has no dispatcher_jobs_total: nothing was checked")
	}

	// The attempts were logged at debug before the records above were
	// written; stop the service so its shutdown lines are in too.
	svc.Stop(t)
	grep("service logs (debug)", []byte(logs.String()))
	for _, id := range []string{"sg-ok", "sg-reject", "sg-flaky", "sg-fb-2"} {
		if !strings.Contains(logs.String(), id) {
			t.Errorf("logs do not mention %s: nothing was checked", id)
		}
	}

	env := []string{
		"DISPATCHER_NATS_URL=nats://user:" + natsPassword + "@127.0.0.1:1",
		"DISPATCHER_CREDS=" + filepath.Join(t.TempDir(), credsPath+".creds"),
		envVar + "=" + envToken,
	}
	for _, args := range [][]string{
		{"--help"}, {"serve", "--help"}, {"publish", "--help"},
		{"dlq", "--help"}, {"dlq", "ls", "--help"}, {"dlq", "show", "--help"},
		{"dlq", "replay", "--help"}, {"dlq", "purge", "--help"},
		{"lag", "--help"}, {"demo", "--help"}, {"config", "--help"}, {"config", "check", "--help"},
		{"version", "--help"}, {"completion", "--help"},
	} {
		r := testenv.RunCLI(t, nil, env, args...)
		name := "dispatcher " + strings.Join(args, " ")
		if r.Code != 0 || !strings.Contains(r.Stdout+r.Stderr, "Usage:") {
			t.Errorf("%s: no usage printed:\n%s", name, r)
		}
		grep(name+" stdout", []byte(r.Stdout))
		grep(name+" stderr", []byte(r.Stderr))
	}
}
