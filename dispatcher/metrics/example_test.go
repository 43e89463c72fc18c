package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"io"

	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/worker"
)

// A Metrics is the workers' Observer and serves its own registry.
func Example() {
	m := metrics.New(metrics.BuildInfo{Version: "v1.0.0", Commit: "abc123"})
	_ = worker.WithObserver(m) // pass to worker.New

	m.AttemptStarted("payments", "https://pay.example.com")
	m.AttemptDone("payments", "https://pay.example.com", 200, "", 20*time.Millisecond)
	m.JobEnded("payments", "delivered", "")

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "dispatcher_jobs_total{outcome=\"delivered\"") {
			fmt.Println(line)
		}
	}
	// Output: dispatcher_jobs_total{outcome="delivered",target="payments"} 1
}
