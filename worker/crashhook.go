//go:build crashhook

package worker

import (
	"os"
	"slices"
	"strings"
	"syscall"
)

// In a build with the crashhook tag, DISPATCHER_TEST_CRASH_AFTER_STORE
// (a comma-separated list of schedule, dead_letter, fallback) makes the process kill
// itself with SIGKILL right after storing such an outcome, before the ack:
// the crash window the settle markers close. Tests only.
func init() {
	kinds := strings.Split(os.Getenv("DISPATCHER_TEST_CRASH_AFTER_STORE"), ",")
	crashAfterStore = func(kind string) {
		if slices.Contains(kinds, kind) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}
