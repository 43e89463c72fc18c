package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a started dispatcher binary whose stdout and stderr go to
// files.
type Process struct {
	cmd     *exec.Cmd
	outPath string
	errPath string
	done    chan struct{}
	waitErr error
}

// StartProcess starts bin with args and the environment
// CLIEnv("DISPATCHER_LOG_LEVEL=info") (no other DISPATCHER_* variable of the
// test's), capturing its stdout and stderr to files of a temp dir. At
// cleanup a process still running is killed, and when the test failed the
// tail of its stderr is printed.
func StartProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	return StartProcessEnv(t, bin, nil, args...)
}

// StartProcessEnv is StartProcess with extra variables ("NAME=value")
// added to its environment, after (so overriding) DISPATCHER_LOG_LEVEL=info.
func StartProcessEnv(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	dir := t.TempDir()
	p := &Process{outPath: filepath.Join(dir, "stdout"), errPath: filepath.Join(dir, "stderr"), done: make(chan struct{})}
	stdout, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(p.errPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	p.cmd.Env = CLIEnv(append([]string{"DISPATCHER_LOG_LEVEL=info"}, env...)...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		stdout.Close()
		stderr.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("process %d not gone 10s after SIGKILL", p.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("process %v stderr (tail):\n%s", p.cmd.Args, tail(p.Stderr(), 30))
		}
	})
	return p
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Kill9 sends SIGKILL.
func (p *Process) Kill9(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL: %v", err)
	}
}

// Terminate sends SIGTERM.
func (p *Process) Terminate(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 when killed by a signal); it fails the test on timeout.
func (p *Process) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("process %d did not exit within %s", p.Pid(), timeout)
	}
	return p.ExitCode()
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status once the process has exited (-1 when killed
// by a signal or still running).
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Stdout returns what the process wrote to stdout so far.
func (p *Process) Stdout() string { return readString(p.outPath) }

// Stderr returns what the process wrote to stderr so far (its logs).
func (p *Process) Stderr() string { return readString(p.errPath) }

// WaitLog waits (bounded) until stderr contains substr, failing the test
// when the process exits or timeout passes first.
func (p *Process) WaitLog(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() (bool, string) {
		if strings.Contains(p.Stderr(), substr) {
			return true, ""
		}
		if p.Exited() {
			return true, ""
		}
		return false, "stderr has no " + substr
	})
	if !strings.Contains(p.Stderr(), substr) {
		t.Fatalf("process exited with status %d before logging %s; stderr:\n%s", p.ExitCode(), substr, tail(p.Stderr(), 30))
	}
}

// LogLines returns the JSON log lines of stderr so far, decoded.
func (p *Process) LogLines() []LogLine { return ParseLogLines(p.Stderr()) }

// HealthAddr waits (bounded) for the service's "health listening" line and
// returns the address it logged: where /readyz and POST /-/reload answer.
func (p *Process) HealthAddr(t testing.TB) string {
	t.Helper()
	p.WaitLog(t, `"msg":"health listening"`, 30*time.Second)
	for _, l := range p.LogLines() {
		if l.Msg() == "health listening" && l.Str("addr") != "" {
			return l.Str("addr")
		}
	}
	t.Fatalf("no addr on the health listening line; stderr:\n%s", tail(p.Stderr(), 30))
	return ""
}

// WaitReady waits until the service logs that it is ready.
func (p *Process) WaitReady(t testing.TB) {
	t.Helper()
	p.WaitLog(t, `"msg":"ready"`, 30*time.Second)
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
