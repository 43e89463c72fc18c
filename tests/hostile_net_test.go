package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// Operators' terminals and the network around the service are less trusted
// than its config: each test here is an attack from someone who can reach
// the service's HTTP listener or its embedded NATS server, or who makes its
// targets' calls land where they should not, and what the service does
// about it. Nothing here listens beyond loopback or dials anything but
// 127.0.0.1: addresses beyond loopback appear in configs that must be
// refused before any bind, or are TEST-NET addresses no host has.

// httpDo makes one request to the service's listener at addr, with
// "Authorization: Bearer <token>" unless token is empty.
func httpDo(t *testing.T, method, addr, path, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// TestHostileNetHTTPToken: with http.token set, whoever reaches the
// listener without the token gets 401 (and a Bearer challenge) on
// /metrics, POST /-/reload and any other path, and no reload runs; only
// /healthz and /readyz stay open. With the token everything works, and a
// reload swaps the token.
func TestHostileNetHTTPToken(t *testing.T) {
	t.Parallel()
	const token, wrong, next = "hostile-net-http-token-1", "hostile-net-http-token-2", "hostile-net-http-token-3"
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	text := b.Config(testenv.M{"http": testenv.M{"token": token}}, testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)}))
	path := testenv.WriteConfig(t, text)
	var reloads atomic.Int32
	svc := testenv.RunService(t, text, dispatcher.WithConfigFile(path), dispatcher.OnReload(func(bool) { reloads.Add(1) }))
	addr := svc.HTTPAddr()

	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _, body := httpDo(t, "GET", addr, p, ""); code != http.StatusOK {
			t.Errorf("GET %s without a token: %d %q, want 200 (probes carry no credentials)", p, code, body)
		}
	}
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/metrics", ""}, {"POST", "/-/reload", ""}, {"GET", "/no-such-path", ""},
		{"GET", "/metrics", wrong}, {"POST", "/-/reload", wrong}, {"GET", "/metrics", token + "x"},
	} {
		code, h, body := httpDo(t, c.method, addr, c.path, c.token)
		if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s with token %q: %d (WWW-Authenticate %q) %q, want 401 with a Bearer challenge",
				c.method, c.path, c.token, code, h.Get("WWW-Authenticate"), body)
		}
		if strings.Contains(body, "dispatcher_") || strings.Contains(body, token) {
			t.Errorf("%s %s without the token answered %q", c.method, c.path, body)
		}
	}
	if n := reloads.Load(); n != 0 {
		t.Errorf("%d reloads ran on requests without the token, want 0", n)
	}

	if code, _, body := httpDo(t, "GET", addr, "/metrics", token); code != http.StatusOK || !strings.Contains(body, "dispatcher_build_info") {
		t.Errorf("GET /metrics with the token: %d, want 200 with the metrics", code)
	}
	if code, _, body := httpDo(t, "POST", addr, "/-/reload", token); code != http.StatusOK || !strings.Contains(body, "reloaded") {
		t.Errorf("POST /-/reload with the token: %d %q, want 200 reloaded", code, body)
	}

	// A reload applies a new token at once: the old one stops working.
	cfg, err := config.Parse([]byte(strings.Replace(text, token, next, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Apply(context.Background(), cfg); err != nil {
		t.Fatalf("reload with a new http.token: %v", err)
	}
	if code, _, _ := httpDo(t, "GET", addr, "/metrics", token); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics with the token replaced by a reload: %d, want 401", code)
	}
	if code, _, _ := httpDo(t, "GET", addr, "/metrics", next); code != http.StatusOK {
		t.Errorf("GET /metrics with the token a reload set: %d, want 200", code)
	}
	for _, l := range svc.Logs.Lines() {
		if l.Msg() == "config change needs a restart; ignored until then" {
			t.Errorf("a reload of http.token logged %v: it is applied, not ignored", l)
		}
	}
	for _, s := range []string{token, next} {
		if strings.Contains(svc.Logs.String(), s) {
			t.Errorf("the logs hold http.token %q", s)
		}
	}
}

// TestHostileNetHTTPBeyondLoopbackNeedsToken: an http.listen anyone on the
// network can reach (all interfaces, an interface's address, a name) with
// no http.token is a config error naming http.token — in config check, so
// serve exits 2 before binding — and Run, given such a Config built in
// code, refuses it before it binds anything.
func TestHostileNetHTTPBeyondLoopbackNeedsToken(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"0.0.0.0:9090", ":9090", "[::]:9090", "10.0.0.5:9090", "dispatcher.internal:9090"} {
		text := testenv.Config("nats://127.0.0.1:4222", testenv.M{"http": testenv.M{"listen": listen}},
			testenv.Targets(testenv.M{"a": testenv.Target("http://127.0.0.1:1")}))
		_, err := config.Parse([]byte(text), nil)
		if err == nil || !strings.Contains(err.Error(), "http.token: is required") {
			t.Errorf("http.listen %s without http.token: config error %v, want one naming http.token", listen, err)
		}
		if r := testenv.RunCLI(t, nil, nil, "config", "check", testenv.WriteConfig(t, text)); r.Code != 2 || !strings.Contains(r.Stderr, "http.token") {
			t.Errorf("config check of http.listen %s without http.token: exit %d, want 2 naming http.token\n%s", listen, r.Code, r)
		}
	}

	// Run with a Config built in code: 192.0.2.1 (TEST-NET-1) is no
	// address of this host, so even a service that tried would bind
	// nothing.
	cfg, err := config.Parse([]byte(testenv.Config("nats://"+testenv.RefusedAddr(t),
		testenv.Targets(testenv.M{"a": testenv.Target("http://127.0.0.1:1")}))), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = "192.0.2.1:9090"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = dispatcher.Run(ctx, cfg)
	if !errors.Is(err, dispatcher.ErrStartup) || !strings.Contains(err.Error(), "http.token") {
		t.Errorf("Run with http.listen %s and no http.token = %v, want a startup error naming http.token", cfg.HTTP.Listen, err)
	}
}

// TestHostileNetEmbeddedBeyondLoopbackNeedsToken: an embedded NATS server
// listening beyond loopback without nats.embedded.token would give anyone
// on the network the jobs, the dead letters and the fleet's keys: a config
// error naming nats.embedded.token, and Run refuses such a Config built in
// code before it starts the server.
func TestHostileNetEmbeddedBeyondLoopbackNeedsToken(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"0.0.0.0:4222", ":4222", "[::]:4222", "10.0.0.5:4222"} {
		text := testenv.Config("", testenv.M{"nats": testenv.M{"embedded": testenv.M{"listen": listen}}},
			testenv.Targets(testenv.M{"a": testenv.Target("http://127.0.0.1:1")}))
		_, err := config.Parse([]byte(text), nil)
		if err == nil || !strings.Contains(err.Error(), "nats.embedded.token: is required") {
			t.Errorf("nats.embedded.listen %s without nats.embedded.token: config error %v, want one naming nats.embedded.token", listen, err)
		}
		if r := testenv.RunCLI(t, nil, nil, "config", "check", testenv.WriteConfig(t, text)); r.Code != 2 || !strings.Contains(r.Stderr, "nats.embedded.token") {
			t.Errorf("config check of nats.embedded.listen %s without a token: exit %d, want 2 naming nats.embedded.token\n%s", listen, r.Code, r)
		}
	}

	cfg, err := config.Parse([]byte(testenv.Config("", testenv.M{"nats": testenv.M{"embedded": testenv.M{"store_dir": t.TempDir()}}},
		testenv.Targets(testenv.M{"a": testenv.Target("http://127.0.0.1:1")}))), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.Embedded.Listen = "192.0.2.1:4222" // TEST-NET-1: no address of this host
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = dispatcher.Run(ctx, cfg)
	if !errors.Is(err, dispatcher.ErrStartup) || !strings.Contains(err.Error(), "nats.embedded.token") {
		t.Errorf("Run with nats.embedded.listen %s and no token = %v, want a startup error naming nats.embedded.token", cfg.NATS.Embedded.Listen, err)
	}
}

// TestHostileNetEmbeddedToken: with nats.embedded.token the embedded
// server refuses a client without the token or with another one; the
// service's own connection presents it (the service gets ready and
// delivers), and the operator commands reach the server with --token,
// DISPATCHER_TOKEN or the config file (--config). The token is never
// logged.
func TestHostileNetEmbeddedToken(t *testing.T) {
	t.Parallel()
	const token = "hostile-net-embedded-token-1"
	sink := testenv.NewSink(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	text := testenv.Config("",
		testenv.M{"nats": testenv.M{"embedded": testenv.M{"listen": listen, "store_dir": t.TempDir(), "token": token}}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)}))
	cfgPath := testenv.WriteConfig(t, text)
	svc := testenv.RunService(t, text)
	url := svc.NATSURL()

	for name, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"another token":  {nats.Token("hostile-net-embedded-token-2")},
		"a user":         {nats.UserInfo("dispatcher", token)},
	} {
		if nc, err := nats.Connect(url, append(opts, nats.Timeout(5*time.Second))...); err == nil {
			nc.Close()
			t.Errorf("a client with %s connected to the embedded server", name)
		} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("a client with %s: %v, want an authorization violation", name, err)
		}
	}
	nc, err := nats.Connect(url, nats.Token(token), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("a client with the token: %v", err)
	}
	nc.Close()

	publish := func(id string, env []string, args ...string) testenv.CLIResult {
		return testenv.RunCLI(t, nil, env, append([]string{"publish", "--target", "a", "--id", id, "--data", `{"n":1}`}, args...)...)
	}
	if r := publish("emb-none", nil, "--nats-url", url); r.Code == 0 {
		t.Errorf("publish without a token was accepted by the embedded server:\n%s", r)
	}
	delivered := []string{"emb-flag", "emb-env", "emb-config"}
	for _, r := range []testenv.CLIResult{
		publish("emb-flag", nil, "--nats-url", url, "--token", token),
		publish("emb-env", []string{"DISPATCHER_TOKEN=" + token}, "--nats-url", url),
		publish("emb-config", nil, "--config", cfgPath),
	} {
		if r.Code != 0 {
			t.Errorf("publish to the embedded server with its token:\n%s", r)
		}
	}
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return len(sink.Answered(http.StatusOK)) == len(delivered), fmt.Sprintf("%d of %d jobs delivered", len(sink.Answered(http.StatusOK)), len(delivered))
	})
	if r := testenv.RunCLI(t, nil, nil, "lag", "--config", cfgPath); r.Code != 0 {
		t.Errorf("lag --config against the embedded server:\n%s", r)
	}
	if strings.Contains(svc.Logs.String(), token) {
		t.Error("the service's logs hold nats.embedded.token")
	}
}

// TestHostileNetAllowNetworks: allow_networks admits exactly its networks
// while the SSRF guard is on: a target whose list (its own, or inherited
// from defaults) holds 127.0.0.0/8 reaches its loopback endpoint; one whose
// list holds another network is refused (ssrf_blocked, no call).
func TestHostileNetAllowNetworks(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	testenv.RunService(t, b.Config(
		testenv.M{"security": testenv.M{"allow_private_networks": false}},
		testenv.M{"defaults": testenv.M{"allow_networks": []string{"127.0.0.1/32"}}},
		testenv.Targets(testenv.M{
			"inherits": testenv.Target(sink.URL + "/inherits"),
			"own":      testenv.Target(sink.URL+"/own", testenv.M{"allow_networks": []string{"127.0.0.0/8", "fd00::/8"}}),
			"other":    testenv.Target(sink.URL+"/other", testenv.M{"allow_networks": []string{"10.0.0.0/8", "::1/128"}}),
		})))
	for _, tg := range []string{"inherits", "own", "other"} {
		b.Publish(t, testenv.JobMsg(tg, schemas.Job{ID: "an-" + tg}))
	}
	d := testenv.WaitDeadLetters(t, b.JS, "other", 1, 15*time.Second)[0].Rec
	if d.Reason != schemas.ReasonNonRetryable || d.ErrorClass != schemas.ClassSSRFBlocked {
		t.Errorf("target other (allow_networks without 127.0.0.1): reason %q class %q (%s), want non_retryable ssrf_blocked", d.Reason, d.ErrorClass, d.Error)
	}
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		return len(sink.Answered(http.StatusOK)) == 2, fmt.Sprintf("calls %v, want an-inherits and an-own", sink.Answered(http.StatusOK))
	})
	for _, c := range sink.Calls() {
		if c.Key == "an-other" {
			t.Errorf("target other reached its loopback endpoint: %s", c.Path)
		}
	}
}
