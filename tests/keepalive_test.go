package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestKeepAlive checks that calls to one target reuse their TCP
// connection: 20 jobs to a target of concurrency 1 (one call at a time)
// reach the target over a single connection.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	const jobs = 20
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{"concurrency": 1})})))
	msgs := make([]testenv.Msg, jobs)
	for i := range msgs {
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("ka-%02d", i)})
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		n := len(sink.Answered(200))
		return n == jobs, fmt.Sprintf("%d of %d jobs delivered", n, jobs)
	})
	if m := sink.MaxInFlight(); m != 1 {
		t.Fatalf("%d calls at once, want 1 (concurrency 1): the test needs sequential calls", m)
	}
	if n := sink.Conns(); n != 1 {
		t.Errorf("%d TCP connections for %d sequential calls, want 1 (keep-alive)", n, jobs)
	}
}
