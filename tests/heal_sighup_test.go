package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessSIGHUPReload checks that SIGHUP makes 'dispatcher serve' reload
// its config file: a target added to the file gets its jobs delivered, and
// the process keeps running.
//
// The file watch must not get there first: --config is a symlink to a file
// in another directory, and the service watches the directory of the path
// it was given, so a write to the real file is invisible to the watch (as
// with a config mounted through a link the watch does not cover). The test
// shows that nothing reloads the change before the signal, then sends it.
func TestProcessSIGHUPReload(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)
	b := testenv.NewBroker(t)
	sinkA, sinkB := testenv.NewSink(t), testenv.NewSink(t)
	real := filepath.Join(t.TempDir(), "real.yaml")
	link := filepath.Join(t.TempDir(), "dispatcher.yaml")
	if err := os.WriteFile(real, []byte(b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sinkA.URL)}))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	p := testenv.StartProcess(t, bin, "serve", "--config", link)
	p.WaitReady(t)

	both := b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sinkA.URL), "b": testenv.Target(sinkB.URL)}))
	if err := os.WriteFile(real, []byte(both), 0o600); err != nil {
		t.Fatal(err)
	}
	// Five times the watch's 300ms debounce: a reload now would not be
	// SIGHUP's, and the test could not tell the two apart.
	reloaded := func() (bool, string) { return strings.Contains(p.Stderr(), `"config reloaded"`), "" }
	if testenv.Poll(1500*time.Millisecond, reloaded) {
		t.Fatalf("the config was reloaded before SIGHUP; stderr:\n%s", p.Stderr())
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(t, `"config reloaded"`, 10*time.Second)
	var bySignal bool
	for _, l := range p.LogLines() {
		if l.Msg() == "reload requested" && l.Str("signal") == syscall.SIGHUP.String() {
			bySignal = true
		}
	}
	if !bySignal {
		t.Errorf("no \"reload requested\" line for %s", syscall.SIGHUP)
	}
	b.Publish(t, testenv.JobMsg("b", schemas.Job{ID: "hup-b"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(sinkB.Answered(200)) == 1, "job of the target added by SIGHUP not delivered"
	})
	if p.Exited() {
		t.Fatalf("process exited on SIGHUP (code %d)", p.ExitCode())
	}
}
