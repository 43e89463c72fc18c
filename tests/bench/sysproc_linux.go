package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// childAttr puts a child in its own process group (a terminal's Ctrl-C
// reaches the harness only, which then stops the children in order) and has
// the kernel kill it if the harness dies without cleaning up.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// maxRSSBytes is ru_maxrss of an exited process (Linux reports KiB). It is
// not the child's own peak: Linux keeps the high-water mark of the memory
// the child shared with the harness before exec, so peakRSS is preferred.
func maxRSSBytes(st *os.ProcessState) int64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024
	}
	return 0
}

// peakRSS is the peak resident set size of a running process's own memory
// (VmHWM), or 0 when it cannot be read.
func peakRSS(pid int) int64 { return statusKB(pid, "VmHWM:") }

// statusKB is a field of /proc/<pid>/status given in kB (VmHWM, VmRSS), in
// bytes, or 0 when it cannot be read.
func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte(field)); ok {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go runs on.
const clockTicks = 100

// sampleProc reads /proc/<pid>/stat (utime and stime) and
// /proc/<pid>/status (VmRSS); ok is false when either cannot be read.
func sampleProc(pid int) (s procSample, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, false
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after it start at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return s, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return s, false
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return s, false
	}
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	s.rss = statusKB(pid, "VmRSS:")
	return s, s.rss > 0
}
