package tests

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessSIGHUPReload checks that SIGHUP makes 'dispatcher serve' reload
// its config file: a target added to the file (with the watch racing it)
// gets its jobs delivered, and the process keeps running.
func TestProcessSIGHUPReload(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)
	b := testenv.NewBroker(t)
	sinkA, sinkB := testenv.NewSink(t), testenv.NewSink(t)
	path := testenv.WriteConfig(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sinkA.URL)})))
	p := testenv.StartProcess(t, bin, "serve", "--config", path)
	p.WaitReady(t)

	both := b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sinkA.URL), "b": testenv.Target(sinkB.URL)}))
	if err := os.WriteFile(path, []byte(both), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(t, `"config reloaded"`, 10*time.Second)
	b.Publish(t, testenv.JobMsg("b", schemas.Job{ID: "hup-b"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(sinkB.Answered(200)) == 1, "job of the target added by SIGHUP not delivered"
	})
	if p.Exited() {
		t.Fatalf("process exited on SIGHUP (code %d)", p.ExitCode())
	}
}
