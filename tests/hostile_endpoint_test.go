package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zapcore"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestHostileEndpointSecrets: endpoint URLs may carry secrets in their user
// info and query (webhook URLs often do). A config file refuses such
// endpoints; a service run with them anyway (dispatcher.Run takes a Config
// built in Go) still shows each endpoint only in its display form
// (schemas.DisplayEndpoint). The test runs jobs to every outcome through
// such endpoints — a 503 and a refused connection, breakers opening,
// failover, dead letters, fallback records — and greps every surface for
// the secrets: /metrics, the service's debug logs, every message of every
// stream (records, settle markers, scheduled copies, every key and value of
// every KV bucket: breakers, fleet instances), the results, and the output
// of lag, dlq ls and dlq show (human and --json). The target still gets the
// URL as configured, byte for byte, and two endpoints differing only in
// their token stay two label values.
func TestHostileEndpointSecrets(t *testing.T) {
	t.Parallel()
	const (
		tokA   = "ep-tok-A-Q7x2" // query of qa's primary (answers 503)
		tokB   = "ep-tok-B-Q9k4" // query of qa's backup: the same URL but for the token
		sig    = "ep-sig-D3m8"   // query of qd (answers 503)
		user   = "ep-user-U5c1"  // user info of ui (refused) and uok (answers 200)
		pass   = "ep-pass-P6v3"
		jobSig = "job-sig-J2n6" // a query in a job's own path: the publisher's
	)
	secrets := []string{tokA, tokB, sig, user, pass}

	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(func(w http.ResponseWriter, r *http.Request, e *testenv.Env) bool {
		if q := r.URL.RawQuery; strings.Contains(q, tokA) || strings.Contains(q, sig) {
			return testenv.Status(http.StatusServiceUnavailable)(w, r, e)
		}
		return testenv.OK()(w, r, e)
	})
	refused := testenv.RefusedAddr(t)
	host := strings.TrimPrefix(sink.URL, "http://")
	endpoints := map[string][]string{
		"qa":  {"http://" + host + "/in?token=" + tokA, "http://" + host + "/in?token=" + tokB},
		"qd":  {"http://" + host + "/dead?x=1&sig=" + sig},
		"ui":  {"http://" + user + ":" + pass + "@" + refused + "/hook"},
		"uok": {"http://" + user + ":" + pass + "@" + host + "/basic"},
	}
	trip := func(n int, attempts int) testenv.M {
		return testenv.M{
			"retry":   testenv.M{"max_attempts": attempts, "initial_interval": "50ms"},
			"breaker": testenv.M{"consecutive_failures": n, "open_timeout": "1m", "when_open": "fallback"},
		}
	}
	// The config file names plain endpoints (it refuses the others); the
	// parsed config gets the secret-bearing ones.
	yamlText := b.Config(testenv.Targets(testenv.M{
		"qa":  testenv.Target("http://127.0.0.1:1/qa", trip(1, 3)),
		"qd":  testenv.Target("http://127.0.0.1:1/qd", trip(2, 2)),
		"ui":  testenv.Target("http://127.0.0.1:1/ui", trip(1, 1)),
		"uok": testenv.Target("http://127.0.0.1:1/uok"),
	}))
	cfg, err := config.Parse([]byte(yamlText), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	for name, eps := range endpoints {
		tg := cfg.Targets[name]
		tg.Endpoints = eps
		cfg.Targets[name] = tg
	}
	results := testenv.Results(t, b.NC, "app.results")
	log, logs := testenv.NewLogger(zapcore.DebugLevel)
	svc, stop := runConfig(t, cfg, dispatcher.WithLogger(log))

	job := func(id, path string) testenv.Msg {
		return testenv.JobMsg(strings.SplitN(id, "-", 2)[0], schemas.Job{ID: id, Path: path, ReplyTo: "app.results"})
	}
	// qa-1: 503 on the primary (its breaker opens), then the backup: delivered.
	b.Publish(t, job("qa-1", "/"))
	// qd-1: 503 twice: exhausted, and qd's breaker opens; qd-2: fallback.
	b.Publish(t, job("qd-1", "/j?jobsig="+jobSig))
	// ui-1: connection refused: exhausted, ui's breaker opens; ui-2: fallback.
	b.Publish(t, job("ui-1", "/"))
	b.Publish(t, job("uok-1", "/"))
	testenv.WaitDeadLetters(t, b.JS, "qd", 1, 20*time.Second)
	testenv.WaitDeadLetters(t, b.JS, "ui", 1, 20*time.Second)
	b.Publish(t, job("qd-2", "/"))
	b.Publish(t, job("ui-2", "/"))
	b.Publish(t, job("qa-2", "/"))
	fbs := testenv.WaitFallbacks(t, b.JS, "", 2, 20*time.Second)
	dls := testenv.WaitDeadLetters(t, b.JS, "", 2, 20*time.Second)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return results.Len() >= 7, fmt.Sprintf("%d results, want 7", results.Len())
	})
	outcomes := map[string]string{}
	for _, r := range results.All() {
		outcomes[r.JobID] = r.Outcome
	}
	want := map[string]string{"qa-1": "delivered", "qa-2": "delivered", "uok-1": "delivered",
		"qd-1": "dead_lettered", "ui-1": "dead_lettered", "qd-2": "fallback", "ui-2": "fallback"}
	for id, o := range want {
		if outcomes[id] != o {
			t.Errorf("job %s: outcome %q, want %q (all: %v)", id, outcomes[id], o, outcomes)
		}
	}

	// The calls went to the URLs as configured, byte for byte.
	sent := map[string]bool{}
	basic := ""
	for _, c := range sink.Calls() {
		sent[c.Path] = true
		if strings.HasPrefix(c.Path, "/basic") {
			basic = c.Header.Get("Authorization")
		}
	}
	for _, p := range []string{"/in?token=" + tokA + "/", "/in?token=" + tokB + "/", "/dead?x=1&sig=" + sig + "/j?jobsig=" + jobSig, "/basic/"} {
		if !sent[p] {
			t.Errorf("no call to %q (calls: %v)", p, sent)
		}
	}
	if w := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)); basic != w {
		t.Errorf("uok's call carried Authorization %q, want %q (from the user info)", basic, w)
	}

	var hits []string
	grep := func(where string, data []byte, secrets ...string) {
		for _, s := range secrets {
			if i := bytes.Index(data, []byte(s)); i >= 0 {
				lo, hi := max(0, i-100), min(len(data), i+len(s)+40)
				hits = append(hits, fmt.Sprintf("%s holds %q: …%s…", where, s, data[lo:hi]))
			}
		}
	}
	// The job's own path is the publisher's: its dead letter keeps the job
	// as received (replay sends it again), nothing else shows it.
	withJob := append(append([]string{}, secrets...), jobSig)

	metrics := testenv.GetOK(t, svc.HTTPAddr(), "/metrics")
	grep("GET /metrics", []byte(metrics), withJob...)
	labels := map[string]bool{}
	re := regexp.MustCompile(`dispatcher_breaker_state\{endpoint="([^"]*)",target="qa"\}`)
	for _, m := range re.FindAllStringSubmatch(metrics, -1) {
		labels[m[1]] = true
	}
	if len(labels) != 2 {
		t.Errorf("qa's two endpoints, differing only in their token, have %d breaker_state label values, want 2: %v", len(labels), labels)
	}
	for l := range labels {
		if !strings.HasPrefix(l, "http://"+host+"/in?REDACTED#") {
			t.Errorf("qa's endpoint label %q is not the display form", l)
		}
	}

	for _, d := range dls {
		where := fmt.Sprintf("dead letter %d (job %s)", d.Seq, d.Header.Get("Dispatch-Job-Id"))
		grep(where, d.Data, secrets...)
		grep(where+" without its job", withoutJob(t, d.Data), jobSig)
		for _, a := range d.Rec.History {
			if a.Endpoint != schemas.DisplayEndpoint(a.Endpoint) || !strings.Contains(a.Endpoint, "REDACTED") {
				t.Errorf("%s: history endpoint %q is not a display form", where, a.Endpoint)
			}
		}
	}
	for _, f := range fbs {
		where := fmt.Sprintf("fallback record %d (job %s)", f.Seq, f.Header.Get("Dispatch-Job-Id"))
		grep(where, f.Data, withJob...)
		if f.Rec.Endpoint != schemas.DisplayEndpoint(endpoints[f.Rec.Target][0]) {
			t.Errorf("%s: endpoint %q, want %q", where, f.Rec.Endpoint, schemas.DisplayEndpoint(endpoints[f.Rec.Target][0]))
		}
	}
	for i, raw := range results.Raw() {
		grep(fmt.Sprintf("result %d", i), raw, withJob...)
	}
	// Every message of every stream: KV buckets (breakers, instances,
	// target sets, keys), settle markers, scheduled copies, records. Only
	// the job itself (the jobs stream, scheduled copies, a record's job)
	// may hold the job's own path.
	kvs := 0
	for _, m := range allStreamMsgs(t, b.JS) {
		data := append([]byte(m.Subject+"\n"), m.Data...)
		for k, vs := range m.Header {
			data = fmt.Appendf(data, "\n%s: %s", k, strings.Join(vs, ", "))
		}
		where := fmt.Sprintf("stream %s seq %d (%s)", m.stream, m.Sequence, m.Subject)
		grep(where, data, secrets...)
		if strings.HasPrefix(m.stream, "KV_") {
			kvs++
			grep(where, data, jobSig)
		}
	}
	if kvs == 0 {
		t.Errorf("no KV entry read: nothing was checked there")
	}

	env := []string{}
	cli := func(args ...string) {
		r := testenv.RunCLI(t, nil, env, append(args, "--nats-url", b.URL)...)
		name := "dispatcher " + strings.Join(args, " ")
		if r.Code != 0 {
			t.Errorf("%s: exit %d\n%s", name, r.Code, r)
		}
		grep(name+" stdout", []byte(r.Stdout), secrets...)
		grep(name+" stderr", []byte(r.Stderr), withJob...)
		if args[0] == "lag" {
			grep(name+" stdout", []byte(r.Stdout), jobSig)
			if !strings.Contains(r.Stdout, "REDACTED") {
				t.Errorf("%s shows no open breaker's endpoint:\n%s", name, r.Stdout)
			}
		}
	}
	cli("lag")
	cli("lag", "--json")
	cli("dlq", "ls")
	cli("dlq", "ls", "--json")
	for _, d := range dls {
		cli("dlq", "show", strconv.FormatUint(d.Seq, 10))
		cli("dlq", "show", strconv.FormatUint(d.Seq, 10), "--json")
	}

	// The debug logs, shutdown included.
	stop()
	grep("service logs (debug)", []byte(logs.String()), withJob...)
	for _, s := range []string{"qa-1", "breaker state change", "endpoint switched", "ui-1"} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("logs do not mention %q: nothing was checked", s)
		}
	}
	for _, h := range hits {
		t.Errorf("LEAK: %s", h)
	}
}

// withoutJob is a record less its job.
func withoutJob(t *testing.T, data []byte) []byte {
	t.Helper()
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("record %q: %v", data, err)
	}
	delete(rec, "job")
	out, _ := json.Marshal(rec)
	return out
}

type streamMsg struct {
	stream string
	*jetstream.RawStreamMsg
}

// allStreamMsgs is every message stored in every stream.
func allStreamMsgs(t *testing.T, js jetstream.JetStream) []streamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []streamMsg
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
			if m, err := st.GetMsg(ctx, seq); err == nil {
				out = append(out, streamMsg{name, m})
			}
		}
	}
	if err := names.Err(); err != nil {
		t.Fatalf("stream names: %v", err)
	}
	return out
}

// runConfig runs the service with cfg as it is (no config file, so no
// validation: how a Config built in Go is run) until stop or the test's
// end, and returns once it is ready.
func runConfig(t *testing.T, cfg *config.Config, opts ...dispatcher.Option) (*dispatcher.Service, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *dispatcher.Service, 1)
	done := make(chan error, 1)
	go func() {
		done <- dispatcher.Run(ctx, cfg, append(opts, dispatcher.OnReady(func(s *dispatcher.Service) { ready <- s }))...)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service: %v", err)
			}
		case <-time.After(cfg.ShutdownTimeout + 15*time.Second):
			t.Errorf("service did not stop within %s", cfg.ShutdownTimeout+15*time.Second)
		}
	}
	t.Cleanup(stop)
	select {
	case s := <-ready:
		return s, stop
	case err := <-done:
		cancel()
		t.Fatalf("service ended before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("service not ready within 30s")
	}
	return nil, nil
}
