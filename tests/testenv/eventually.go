package testenv

import (
	"testing"
	"time"
)

// pollEvery is how often Eventually looks at its condition.
const pollEvery = 20 * time.Millisecond

// Eventually polls cond until it reports true, failing the test with cond's
// last message when timeout passes first. It must run on the test's
// goroutine.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	if !Poll(timeout, cond) {
		_, msg := cond()
		t.Fatalf("condition not met within %s: %s", timeout, msg)
	}
}

// Poll polls cond until it reports true or timeout passes, and says which
// happened. Use it where a timeout is not a failure.
func Poll(timeout time.Duration, cond func() (bool, string)) bool {
	deadline := time.Now().Add(timeout)
	for {
		if ok, _ := cond(); ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
}
