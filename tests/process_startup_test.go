package tests

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessStartup checks how 'dispatcher serve' ends when it never gets
// ready (docs/cli.md): a failed start (the health address taken) exits 1
// naming the cause, and so does SIGTERM during the wait for an unreachable
// NATS server, promptly, saying so rather than "context canceled".
func TestProcessStartup(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)

	t.Run("health address in use", func(t *testing.T) {
		t.Parallel()
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { taken.Close() })
		cfg := testenv.WriteConfig(t, testenv.Config("nats://"+testenv.RefusedAddr(t),
			testenv.M{"http": testenv.M{"listen": taken.Addr().String()}},
			testenv.Targets(testenv.M{"a": testenv.Target("http://" + testenv.RefusedAddr(t))})))
		p := testenv.StartProcess(t, bin, "serve", "--config", cfg)
		if code := p.Wait(t, 30*time.Second); code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		if s := p.Stderr(); !strings.Contains(s, `"msg":"startup failed"`) || !strings.Contains(s, "address already in use") {
			t.Errorf("stderr has no startup failure naming the address in use:\n%s", s)
		}
	})

	t.Run("SIGTERM while NATS is unreachable", func(t *testing.T) {
		t.Parallel()
		cfg := testenv.WriteConfig(t, testenv.Config("nats://"+testenv.RefusedAddr(t),
			testenv.Targets(testenv.M{"a": testenv.Target("http://" + testenv.RefusedAddr(t))})))
		p := testenv.StartProcess(t, bin, "serve", "--config", cfg)
		p.WaitLog(t, `"msg":"NATS not reachable; retrying"`, 30*time.Second)
		p.Terminate(t)
		if code := p.Wait(t, 15*time.Second); code != 1 {
			t.Errorf("exit status %d after SIGTERM while waiting for NATS, want 1", code)
		}
		if s := p.Stderr(); !strings.Contains(s, "stopped before NATS at nats://127.0.0.1:") || strings.Contains(s, "context canceled") {
			t.Errorf("stderr does not say the service stopped before NATS was reachable (or blames the context):\n%s", s)
		}
	})
}
