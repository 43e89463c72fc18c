package tests

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// scrape reads GET /metrics of addr into a map from series (name and
// labels as exposed, labels sorted) to value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	body := testenv.GetOK(t, addr, "/metrics")
	out := map[string]float64{}
	for line := range strings.Lines(body) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsScrape runs a known workload through a real nats-server and a
// real HTTP target and checks what /metrics says about it.
func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.ByPath(map[string]testenv.Behaviour{
		"/ok":    testenv.OK(),
		"/bad":   testenv.Status(400),
		"/flaky": testenv.FailFirst(1, 503),
	}))
	results := testenv.Results(t, b.NC, "app.results")
	svc := testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
		"retry": testenv.M{"max_attempts": 3, "initial_interval": "50ms"},
	})})))

	// Before any job: the partitions' consumer series exist, and no series
	// of target a (an idle target costs none).
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		m := scrape(t, svc.HTTPAddr())
		_, ok := m[`dispatcher_partition_waiting_pulls{kind="jobs",partition="0"}`]
		return ok, "no dispatcher_partition_waiting_pulls of partition 0"
	})
	for s := range scrape(t, svc.HTTPAddr()) {
		if strings.Contains(s, `target="a"`) {
			t.Errorf("series %s of target a before its first job", s)
		}
	}

	var msgs []testenv.Msg
	for i := range 10 {
		msgs = append(msgs, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("ok-%d", i), Path: "/ok", ReplyTo: "app.results"}))
	}
	for i := range 3 {
		msgs = append(msgs, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("bad-%d", i), Path: "/bad", ReplyTo: "app.results"}))
	}
	for i := range 2 {
		msgs = append(msgs, testenv.JobMsg("a", schemas.Job{ID: fmt.Sprintf("flaky-%d", i), Path: "/flaky", ReplyTo: "app.results"}))
	}
	b.PublishMany(t, msgs)
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		return results.Len() >= len(msgs), fmt.Sprintf("%d results, want %d", results.Len(), len(msgs))
	})

	ep := sink.URL
	want := map[string]float64{
		`dispatcher_jobs_total{outcome="delivered",target="a"}`:                               12,
		`dispatcher_jobs_total{outcome="dead_lettered",target="a"}`:                           3,
		`dispatcher_jobs_total{outcome="fallback",target="a"}`:                                0,
		`dispatcher_dead_letters_total{reason="non_retryable",target="a"}`:                    3,
		`dispatcher_dead_letters_total{reason="exhausted",target="a"}`:                        0,
		`dispatcher_attempts_total{status_class="2xx",target="a"}`:                            12,
		`dispatcher_attempts_total{status_class="4xx",target="a"}`:                            3,
		`dispatcher_attempts_total{status_class="5xx",target="a"}`:                            2,
		`dispatcher_attempt_duration_seconds_count{status_class="2xx",target="a"}`:            12,
		`dispatcher_retries_total{error_class="http_5xx",target="a"}`:                         2,
		`dispatcher_in_flight{target="a"}`:                                                    0,
		`dispatcher_limit_concurrency{target="a"}`:                                            8,
		`dispatcher_breaker_state{endpoint="` + ep + `",target="a"}`:                          0,
		`dispatcher_fallbacks_total{target="a"}`:                                              0,
		`dispatcher_config_reloads_total{result="ok"}`:                                        0,
		`dispatcher_config_reloads_total{result="error"}`:                                     0,
		`dispatcher_attempt_duration_seconds_bucket{status_class="2xx",target="a",le="+Inf"}`: 12,
	}
	// The backlog gauges follow JetStream within a poll interval: a's are
	// gone with its backlog, its partition's consumers hold nothing.
	part := strconv.Itoa(schemas.Partition("a", testenv.Partitions))
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		m := scrape(t, svc.HTTPAddr())
		if v, ok := m[`dispatcher_target_pending{target="a"}`]; ok {
			return false, fmt.Sprintf("dispatcher_target_pending of a = %v, want no series", v)
		}
		for _, kind := range []string{"jobs", "due"} {
			for _, g := range []string{"pending", "ack_pending"} {
				s := fmt.Sprintf(`dispatcher_partition_%s{kind=%q,partition=%q}`, g, kind, part)
				if v, ok := m[s]; !ok || v != 0 {
					return false, fmt.Sprintf("%s = %v (present %v), want 0", s, v, ok)
				}
			}
		}
		return true, ""
	})
	m := scrape(t, svc.HTTPAddr())
	for s, v := range want {
		got, ok := m[s]
		if !ok {
			t.Errorf("%s: missing", s)
			continue
		}
		if got != v {
			t.Errorf("%s = %v, want %v", s, got, v)
		}
	}
	var build bool
	for s, v := range m {
		if strings.HasPrefix(s, "dispatcher_build_info{") && strings.Contains(s, `goversion="go`) && v == 1 {
			build = true
		}
		// Bounded labels: no job id or path ever appears.
		if strings.Contains(s, "ok-1") || strings.Contains(s, `"/ok"`) || strings.Contains(s, "/flaky") {
			t.Errorf("unbounded label value in %s", s)
		}
	}
	if !build {
		t.Error("dispatcher_build_info missing")
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("go runtime collector missing")
	}
}
