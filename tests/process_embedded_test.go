package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessServeEmbedded runs 'dispatcher serve' with a config that has
// no nats.url: it starts its embedded JetStream server (127.0.0.1, a port
// of its own choosing, a temp store dir), becomes ready (/readyz 200),
// accepts a job published by 'dispatcher publish' against that server,
// delivers it to a local HTTP target, and on SIGTERM shuts down cleanly:
// exit 0, "stopped" logged, no error.
func TestProcessServeEmbedded(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)
	sink := testenv.NewSink(t)
	store := filepath.Join(t.TempDir(), "nats")
	cfg := testenv.WriteConfig(t, testenv.Config("",
		testenv.M{"nats": testenv.M{"embedded": testenv.M{"listen": "127.0.0.1:0", "store_dir": store}}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)})))
	p := testenv.StartProcess(t, bin, "serve", "--config", cfg)
	p.WaitReady(t)
	var natsURL string
	for _, l := range p.LogLines() {
		if l.Msg() == "embedded NATS started" {
			natsURL = l.Str("url")
		}
	}
	if natsURL == "" {
		t.Fatalf("no \"embedded NATS started\" line with its url:\n%s", p.Stderr())
	}
	addr := p.HealthAddr(t)
	testenv.Eventually(t, 10*time.Second, testenv.ReadyCond(addr))

	r := testenv.RunCLI(t, nil, nil, "publish", "--nats-url", natsURL, "--target", "a", "--id", "emb-1",
		"--path", "/embedded", "--data", `{"amount":100}`)
	if r.Code != 0 {
		t.Fatalf("publish against the embedded server:\n%s", r)
	}
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return len(sink.Answered(200)) == 1, "job published to the embedded server not delivered"
	})
	c := sink.Calls()[0]
	var body map[string]any
	if c.Key != "emb-1" || c.Path != "/embedded" || json.Unmarshal(c.Body, &body) != nil || body["amount"] != float64(100) {
		t.Errorf("call %s %s key %q body %s, want POST /embedded key emb-1 body {\"amount\":100}", c.Method, c.Path, c.Key, c.Body)
	}
	if entries, err := os.ReadDir(store); err != nil || len(entries) == 0 {
		t.Errorf("store dir %s: %v entries, err %v; want the embedded server's files", store, len(entries), err)
	}

	p.Terminate(t)
	if code := p.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	var stopped bool
	for _, l := range p.LogLines() {
		stopped = stopped || l.Msg() == "stopped"
		if l.Str("level") == "error" {
			t.Errorf("error logged: %v", l)
		}
	}
	if !stopped {
		t.Errorf("no \"stopped\" line: not a clean shutdown:\n%s", p.Stderr())
	}
}
