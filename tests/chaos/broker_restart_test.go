package chaos

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestBrokerRestart stops the nats-server process twice mid-run and starts
// it again on the same port and store dir: /readyz goes 503 and back to
// 200 without a manual step, and no job goes missing.
func TestBrokerRestart(t *testing.T) {
	t.Parallel()
	jobs := 2000
	if soak() {
		jobs = 20000
	}
	start := time.Now()
	n := startNATS(t)
	_, js := testenv.Connect(t, n.URL)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Sleep(10*time.Millisecond, testenv.OK()))
	cfg, addr := serveConfig(t, n.URL, testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"timeouts":    testenv.M{"total": "1s", "response_header": "1s"},
		"retry":       testenv.M{"max_attempts": 5, "initial_interval": "50ms", "max_interval": "500ms"},
		"concurrency": 4,
	})}))
	svc := startServe(t, cfg, addr)
	testenv.Eventually(t, 10*time.Second, testenv.ReadyCond(addr))

	ids := make([]string, jobs)
	msgs := make([]testenv.Msg, jobs)
	for i := range msgs {
		ids[i] = fmt.Sprintf("brk-%05d", i)
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: ids[i], Path: "/brk?job=" + ids[i]})
	}
	testenv.PublishMany(t, js, msgs)

	for round, at := range []int{jobs / 5, jobs / 2} {
		testenv.Eventually(t, 60*time.Second, func() (bool, string) {
			d := len(sink.Answered(200))
			return d >= at, fmt.Sprintf("%d of %d delivered before restart %d, want %d", d, jobs, round+1, at)
		})
		n.Stop(t)
		testenv.Eventually(t, 15*time.Second, func() (bool, string) {
			c := readyz(addr)
			return c == http.StatusServiceUnavailable, fmt.Sprintf("/readyz %d with nats-server down, want 503", c)
		})
		down := len(sink.Answered(200))
		time.Sleep(time.Second) // down for a while: the service keeps trying
		n.Start(t)
		testenv.Eventually(t, 30*time.Second, func() (bool, string) {
			c := readyz(addr)
			return c == http.StatusOK, fmt.Sprintf("/readyz %d after nats-server came back, want 200", c)
		})
		t.Logf("restart %d: %d delivered when nats-server went down; ready again", round+1, down)
	}
	if d := len(sink.Answered(200)); d >= jobs {
		t.Errorf("all %d jobs delivered before the second restart was over; the check is void", d)
	}
	l := waitAllAccounted(t, js, testenv.LedgerInput{IDs: ids, Sinks: []*testenv.Sink{sink}}, []string{"a"}, 90*time.Second)
	l.Check(t)
	if l.Missing > 0 {
		explainMissing(t, l.MissingIDs, []*testenv.Sink{sink}, []*serve{svc})
	}
	if svc.Exited() {
		t.Errorf("serve exited with %d during the restarts", svc.ExitCode())
	}
	t.Logf("%d calls in all; %s", sink.Count(), time.Since(start).Round(time.Millisecond))
}
