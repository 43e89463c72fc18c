//go:build !linux && !darwin

package main

import (
	"os"
	"syscall"
)

// childAttr sets nothing where process groups are not portable.
func childAttr() *syscall.SysProcAttr { return nil }

// maxRSSBytes is not measured here.
func maxRSSBytes(*os.ProcessState) int64 { return 0 }

// peakRSS is not sampled here; the rusage figure is used.
func peakRSS(int) int64 { return 0 }

// sampleProc is not available here: the targets scenario's figures of
// running processes are left out.
func sampleProc(int) (procSample, bool) { return procSample{}, false }
