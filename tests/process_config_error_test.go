package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessConfigError checks that a bad config file makes `dispatcher
// serve` exit with status 2 and an error naming the key path.
func TestProcessConfigError(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)
	tests := []struct {
		name    string
		target  testenv.M
		wantKey string
	}{
		{name: "unknown key", target: testenv.M{"retrys": 3}, wantKey: "targets.a.retrys"},
		{name: "out of range", target: testenv.M{"retry": testenv.M{"max_attempts": 0}}, wantKey: "targets.a.retry.max_attempts"},
		{name: "missing variable", target: testenv.M{"headers": testenv.M{"Authorization": "Bearer ${DISPATCHER_TEST_SURELY_UNSET}"}},
			wantKey: "targets.a.headers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testenv.WriteConfig(t, testenv.Config("nats://127.0.0.1:1",
				testenv.Targets(testenv.M{"a": testenv.Target("http://127.0.0.1:1", tc.target)})))
			p := testenv.StartProcess(t, bin, "serve", "--config", cfg)
			if code := p.Wait(t, 30*time.Second); code != 2 {
				t.Errorf("exit status %d, want 2; stderr:\n%s", code, p.Stderr())
			}
			if !strings.Contains(p.Stderr(), tc.wantKey) {
				t.Errorf("stderr does not name %s:\n%s", tc.wantKey, p.Stderr())
			}
		})
	}
}
