package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// procSet holds every child process still running, so that all of them are
// killed when the harness exits, however it exits.
type procSet struct {
	mu    sync.Mutex
	procs map[*proc]struct{}
}

func newProcSet() *procSet { return &procSet{procs: map[*proc]struct{}{}} }

// proc is one child process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed once Wait returned
	waitErr error
	exited  time.Time
	hwm     int64 // peak RSS sampled just before stop, 0 if unknown
	log     *os.File
	// firstLine receives the first line the process writes to stdout.
	firstLine chan string
}

// start starts argv with stdout and stderr appended to logPath; the first
// stdout line is delivered on firstLine.
func (ps *procSet) start(name, logPath string, argv ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, done: make(chan struct{}), log: f, firstLine: make(chan string, 1)}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout = &firstLineWriter{w: f, ch: p.firstLine}
	p.cmd.Stderr = f
	p.cmd.SysProcAttr = childAttr()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.procs == nil {
		f.Close()
		return nil, fmt.Errorf("%s: shutting down", name)
	}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ps.procs[p] = struct{}{}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.exited = time.Now()
		f.Close()
		ps.mu.Lock()
		delete(ps.procs, p)
		ps.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// killAll kills every running child and waits (bounded) for them to go;
// no child can start afterwards.
func (ps *procSet) killAll() {
	ps.mu.Lock()
	running := make([]*proc, 0, len(ps.procs))
	for p := range ps.procs {
		running = append(running, p)
	}
	ps.procs = nil
	ps.mu.Unlock()
	for _, p := range running {
		_ = p.cmd.Process.Kill()
	}
	for _, p := range running {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
}

// exitedEarly returns an error when the process has already exited.
func (p *proc) exitedEarly() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited early: %v (see %s)", p.name, p.waitErr, p.log.Name())
	default:
		return nil
	}
}

// waitFirstLine waits for the first stdout line, bounded by timeout.
func (p *proc) waitFirstLine(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line := <-p.firstLine:
		return line, nil
	case <-p.done:
		return "", p.exitedEarly()
	case <-t.C:
		return "", fmt.Errorf("%s: no output within %s (see %s)", p.name, timeout, p.log.Name())
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stop sends SIGTERM, waits up to grace, then kills; it reports whether the
// process had to be killed.
func (p *proc) stop(grace time.Duration) (killed bool) {
	select {
	case <-p.done:
		return false
	default:
	}
	p.hwm = peakRSS(p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return false
	case <-t.C:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	return true
}

// usage is the CPU time and peak RSS of an exited process.
type usage struct {
	cpu     time.Duration
	maxRSS  int64 // bytes: VmHWM just before SIGTERM where available, else ru_maxrss
	elapsed time.Duration
}

func (p *proc) usage() (usage, error) {
	select {
	case <-p.done:
	default:
		return usage{}, errors.New(p.name + ": still running")
	}
	st := p.cmd.ProcessState
	if st == nil {
		return usage{}, errors.New(p.name + ": no process state")
	}
	u := usage{cpu: st.UserTime() + st.SystemTime(), maxRSS: p.hwm, elapsed: p.exited.Sub(p.started)}
	if u.maxRSS == 0 {
		u.maxRSS = maxRSSBytes(st)
	}
	return u, nil
}

// procSample is a running process's CPU time so far (user and system, all
// its threads) and its resident set size at the time (sampleProc).
type procSample struct {
	cpu time.Duration
	rss int64 // bytes
}

// sample reads the process's CPU time and RSS now; ok is false when it
// has exited or the platform cannot tell.
func (p *proc) sample() (procSample, bool) {
	select {
	case <-p.done:
		return procSample{}, false
	default:
	}
	return sampleProc(p.cmd.Process.Pid)
}

// firstLineWriter passes everything to w and sends the first complete line
// on ch.
type firstLineWriter struct {
	w    io.Writer
	ch   chan string
	buf  []byte
	sent bool
}

func (f *firstLineWriter) Write(b []byte) (int, error) {
	if !f.sent {
		f.buf = append(f.buf, b...)
		if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
			f.ch <- string(bytes.TrimSpace(f.buf[:i]))
			f.sent, f.buf = true, nil
		}
	}
	return f.w.Write(b)
}
