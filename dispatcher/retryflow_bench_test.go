package dispatcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
)

// BenchmarkFreshJobsUnderFailures measures how fast a target's fresh jobs
// flow when a share of calls answers 503 and is retried one second later:
// first-attempt jobs/s with 0% and 20% failures. Scheduled retries hold no
// consumer slot, so the two should be close.
//
//	go test -run '^$' -bench FreshJobsUnderFailures -benchtime 1x ./dispatcher/
func BenchmarkFreshJobsUnderFailures(b *testing.B) {
	for _, failPct := range []int{0, 20} {
		b.Run(fmt.Sprintf("fail=%d%%", failPct), func(b *testing.B) {
			const jobs = 20000
			for range b.N {
				first, all := runRetryFlow(b, jobs, failPct)
				b.ReportMetric(float64(jobs)/first.Seconds(), "fresh_jobs/s")
				b.ReportMetric(all.Seconds(), "s_until_all_delivered")
			}
		})
	}
}

func runRetryFlow(b *testing.B, n, failPct int) (firstAttempts, allDelivered time.Duration) {
	b.Helper()
	srv := natsServer(b)

	var mu sync.Mutex
	seen := map[string]int{}
	var firstDone, delivered atomic.Int64
	firstAll, allDone := make(chan struct{}), make(chan struct{})
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		seen[key]++
		attempt := seen[key]
		mu.Unlock()
		if attempt == 1 && firstDone.Add(1) == int64(n) {
			close(firstAll)
		}
		h := fnv.New32a()
		fmt.Fprintf(h, "%s/%d", key, attempt)
		if int(h.Sum32()%100) < failPct {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		if delivered.Add(1) == int64(n) {
			close(allDone)
		}
	}))
	defer sink.Close()

	yaml := fmt.Sprintf(`
nats: {url: %q}
http: {listen: "127.0.0.1:0"}
security: {allow_private_networks: true}
defaults:
  concurrency: 64
  retry: {max_attempts: 10, initial_interval: 1s, randomization: 0.2}
  breaker: {consecutive_failures: 1000, min_requests: 100000}
targets:
  a: {endpoints: [%q]}
`, srv.ClientURL(), sink.URL)
	cfg, err := config.Parse([]byte(yaml), os.LookupEnv)
	if err != nil {
		b.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- dispatcher.Run(ctx, cfg, dispatcher.OnReady(func(*dispatcher.Service) { close(ready) }))
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("service: %v", err)
	case <-time.After(30 * time.Second):
		b.Fatal("service not ready")
	}
	// Publish everything first, then time the service from its first call.
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		data, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("j-%06d", i), "path": "/x", "body": map[string]int{"i": i}})
		m := nats.NewMsg("dispatch.jobs.a")
		m.Data = data
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	start := time.Now()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	timeout := time.After(3 * time.Minute)
	select {
	case <-firstAll:
		firstAttempts = time.Since(start)
	case <-timeout:
		b.Fatalf("first attempts: %d of %d after 3m", firstDone.Load(), n)
	}
	select {
	case <-allDone:
		allDelivered = time.Since(start)
	case <-timeout:
		b.Fatalf("delivered %d of %d after 3m", delivered.Load(), n)
	}
	b.StopTimer()
	return firstAttempts, allDelivered
}
