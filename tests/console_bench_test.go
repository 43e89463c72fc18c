package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// BenchmarkConsolePolling measures what an open overview costs the drain:
// jobs/s delivered over 50 targets with nobody polling, with a poller at
// the page's rate (GET /ui/overview.part every 3s), and at 30 times it
// (every 100ms: an upper bound for ten open pages). A first round warms
// the service up; idle runs again last, to show the noise.
func BenchmarkConsolePolling(b *testing.B) {
	const targets, perRound = 50, 5000
	br := testenv.NewBroker(b)
	sink := testenv.NewSink(b)
	tm := testenv.M{}
	for i := range targets {
		tm[fmt.Sprintf("t%02d", i)] = testenv.Target(sink.URL, testenv.M{"concurrency": 16})
	}
	svc := testenv.RunService(b, br.Config(testenv.M{"http": testenv.M{"token": consoleToken}}, testenv.Targets(tm)))
	base := "http://" + svc.HTTPAddr()
	for _, bc := range []struct {
		name  string
		every time.Duration
	}{{"warmup", 0}, {"idle", 0}, {"page_3s", 3 * time.Second}, {"poll_100ms", 100 * time.Millisecond}, {"idle_again", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			polls := 0
			if bc.every > 0 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tick := time.NewTicker(bc.every)
					defer tick.Stop()
					for {
						resp, err := http.Get(base + "/ui/overview.part")
						if err == nil {
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							polls++
						}
						select {
						case <-ctx.Done():
							return
						case <-tick.C:
						}
					}
				}()
			}
			start, jobs := time.Now(), 0
			for i := 0; b.Loop(); i++ {
				msgs := make([]testenv.Msg, perRound)
				for j := range msgs {
					msgs[j] = testenv.JobMsg(fmt.Sprintf("t%02d", j%targets), schemas.Job{ID: fmt.Sprintf("%s-%d-%d", bc.name, i, j)})
				}
				want := sink.Count() + perRound
				br.PublishMany(b, msgs)
				testenv.Eventually(b, 120*time.Second, func() (bool, string) {
					return sink.Count() >= want, fmt.Sprintf("%d of %d delivered", sink.Count(), want)
				})
				jobs += perRound
			}
			took := time.Since(start)
			stop()
			wg.Wait()
			b.ReportMetric(float64(jobs)/took.Seconds(), "jobs/s")
			b.ReportMetric(float64(polls), "polls")
		})
	}
}
