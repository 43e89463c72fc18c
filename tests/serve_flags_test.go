package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestServeConnectionFlags checks that 'dispatcher serve' takes the
// connection flags and their DISPATCHER_* variables over the config file's
// nats keys, flag before variable: the config names a NATS URL where
// nothing listens (a service that used it would never be ready) and a
// subject prefix of its own, and the service must consume from the test's
// server on the prefix that wins. A reload keeps the overrides: it is not
// reported as a nats change needing a restart.
func TestServeConnectionFlags(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)
	refused := "nats://" + testenv.RefusedAddr(t)
	tests := []struct {
		name       string
		env        func(b *testenv.Broker) []string
		args       func(b *testenv.Broker) []string
		wantPrefix string
	}{
		{name: "flag over config",
			args:       func(b *testenv.Broker) []string { return []string{"--nats-url", b.URL} },
			wantPrefix: "fromfile"},
		{name: "env over config",
			env: func(b *testenv.Broker) []string {
				return []string{"DISPATCHER_NATS_URL=" + b.URL, "DISPATCHER_SUBJECT_PREFIX=fromenv"}
			},
			wantPrefix: "fromenv"},
		{name: "flag over env",
			env: func(*testenv.Broker) []string {
				return []string{"DISPATCHER_NATS_URL=" + refused, "DISPATCHER_SUBJECT_PREFIX=fromenv"}
			},
			args:       func(b *testenv.Broker) []string { return []string{"--nats-url", b.URL, "--subject-prefix", "fromflag"} },
			wantPrefix: "fromflag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := testenv.NewBroker(t)
			sink := testenv.NewSink(t)
			cfg := testenv.WriteConfig(t, testenv.Config(refused,
				testenv.M{"nats": testenv.M{"subject_prefix": "fromfile"}},
				testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)})))
			var env, args []string
			if tc.env != nil {
				env = tc.env(b)
			}
			if tc.args != nil {
				args = tc.args(b)
			}
			p := testenv.StartProcessEnv(t, bin, env, append([]string{"serve", "--config", cfg}, args...)...)
			p.WaitReady(t)
			addr := p.HealthAddr(t)
			testenv.Eventually(t, 10*time.Second, testenv.ReadyCond(addr))

			id := "flags-" + strings.ReplaceAll(tc.name, " ", "-")
			r := testenv.RunCLI(t, nil, nil, "publish", "--nats-url", b.URL, "--subject-prefix", tc.wantPrefix,
				"--target", "a", "--id", id, "--path", "/flags")
			if r.Code != 0 || !strings.Contains(r.Stdout, tc.wantPrefix+".jobs.a") {
				t.Fatalf("publish on prefix %s:\n%s", tc.wantPrefix, r)
			}
			testenv.Eventually(t, 15*time.Second, func() (bool, string) {
				got := sink.Answered(200)
				return len(got) == 1 && got[0] == id, fmt.Sprintf("delivered %v, want [%s] (published on %s.jobs.a)", got, id, tc.wantPrefix)
			})

			if code, body := postReload(t, addr); code != http.StatusOK {
				t.Fatalf("POST /-/reload: %d %s", code, body)
			}
			for _, l := range p.LogLines() {
				if l.Msg() == "config change needs a restart; ignored until then" {
					t.Errorf("reload reported %s as changed: the override was not applied to the reloaded config", l.Str("key"))
				}
			}
			p.Terminate(t)
			if code := p.Wait(t, 15*time.Second); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}
		})
	}
}

// TestServeConnectionFlagsRefused checks that a connection flag or
// variable that breaks a rule of the nats section is a config error: exit
// status 2 naming the key, before anything connects.
func TestServeConnectionFlagsRefused(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)
	cfg := testenv.WriteConfig(t, testenv.Config("nats://"+testenv.RefusedAddr(t),
		testenv.Targets(testenv.M{"a": testenv.Target("http://" + testenv.RefusedAddr(t))})))
	tests := []struct {
		name    string
		env     []string
		args    []string
		wantErr string
	}{
		{name: "user without password", args: []string{"--user", "u"}, wantErr: "nats.password: is required with nats.user"},
		{name: "prefix with a wildcard from env", env: []string{"DISPATCHER_SUBJECT_PREFIX=a.*"}, wantErr: "nats.subject_prefix: must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := testenv.StartProcessEnv(t, bin, tc.env, append([]string{"serve", "--config", cfg}, tc.args...)...)
			if code := p.Wait(t, 30*time.Second); code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if !strings.Contains(p.Stderr(), tc.wantErr) {
				t.Errorf("stderr does not name %q:\n%s", tc.wantErr, p.Stderr())
			}
		})
	}
}
