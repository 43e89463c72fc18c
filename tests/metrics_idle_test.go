package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// dispatcherSeries counts the dispatcher_ series a scrape shows, and those
// that name a target.
func dispatcherSeries(m map[string]float64) (all, targeted int) {
	for s := range m {
		if strings.HasPrefix(s, "dispatcher_") {
			all++
			if strings.Contains(s, `target="`) {
				targeted++
			}
		}
	}
	return all, targeted
}

// TestMetricsIdleTargets checks that idle targets cost no series: a service
// with 1,000 configured targets and no jobs exposes as many dispatcher_
// series as one with a single target, none of them per target; a target's
// series appear with its first job.
func TestMetricsIdleTargets(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	count := func(n int) (all, targeted int, svc *testenv.Running) {
		targets := testenv.M{}
		for i := range n {
			targets[fmt.Sprintf("idle-%04d", i)] = testenv.Target(sink.URL)
		}
		svc = testenv.RunService(t, b.Config(testenv.Targets(targets), testenv.M{"fleet": testenv.M{"heartbeat": "200ms"}}))
		// A poll of the backlog done, and a few heartbeats.
		testenv.Eventually(t, 10*time.Second, func() (bool, string) {
			_, ok := scrape(t, svc.HTTPAddr())[`dispatcher_partition_pending{kind="jobs",partition="0"}`]
			return ok, "no backlog poll yet"
		})
		time.Sleep(time.Second)
		all, targeted = dispatcherSeries(scrape(t, svc.HTTPAddr()))
		return all, targeted, svc
	}
	all1, tg1, one := count(1)
	one.Stop(t)
	all1000, tg1000, svc := count(1000)
	t.Logf("dispatcher_ series: 1 idle target %d (%d naming a target), 1000 idle targets %d (%d naming a target)", all1, tg1, all1000, tg1000)
	if all1000 != all1 || tg1000 != 0 {
		t.Errorf("1000 idle targets make %d dispatcher_ series (%d naming a target), 1 makes %d: want as many, none naming a target",
			all1000, tg1000, all1)
	}

	// The first job of a target makes its series.
	b.Publish(t, testenv.JobMsg("idle-0042", schemas.Job{ID: "first"}))
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		v := scrape(t, svc.HTTPAddr())[`dispatcher_jobs_total{outcome="delivered",target="idle-0042"}`]
		return v == 1, fmt.Sprintf("delivered jobs of idle-0042: %v", v)
	})
	_, tg := dispatcherSeries(scrape(t, svc.HTTPAddr()))
	t.Logf("after one job of one target: %d series naming a target", tg)
}
