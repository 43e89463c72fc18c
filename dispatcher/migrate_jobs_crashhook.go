//go:build crashhook

package dispatcher

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// In a build with the crashhook tag, DISPATCHER_TEST_MIGRATE_CRASH=<point>
// or <point>:<n> makes 'streams migrate-jobs' kill itself with SIGKILL at
// that point of the migration: holding, retired, copy:<n> (after the n-th
// copy was sent), copied, deleted, created, republish:<n>,
// reschedule:<n>, finishing. After a publish, it waits a moment first, so
// that the server may store what was sent while its acks go unread (a
// batch left in doubt). Tests only.
func init() {
	want := os.Getenv("DISPATCHER_TEST_MIGRATE_CRASH")
	if want == "" {
		return
	}
	point, num, _ := strings.Cut(want, ":")
	n, _ := strconv.Atoi(num)
	migrateCrash = func(p string, i int) {
		if p != point || i != n {
			return
		}
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
