package main

import (
	"os"
	"syscall"
)

// childAttr puts a child in its own process group: a terminal's Ctrl-C
// reaches the harness only, which then stops the children in order.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// maxRSSBytes is the peak resident set size of an exited process; macOS
// reports ru_maxrss in bytes.
func maxRSSBytes(st *os.ProcessState) int64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}

// peakRSS is not sampled here; the rusage figure is used.
func peakRSS(int) int64 { return 0 }

// sampleProc is not available here: the targets scenario's figures of
// running processes are left out.
func sampleProc(int) (procSample, bool) { return procSample{}, false }
