package chaos

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// instanceHeader tells the instances apart at the target: each instance's
// config sets it on its target to the instance's name.
const instanceHeader = "X-Test-Instance"

// TestTwoInstancesShareConsumer runs two `serve` instances on the same
// durable consumer against a slow target (50ms a call, so HTTP calls are
// the limit, not CPU) and publishes jobs once both are ready: no job goes
// missing and both instances make calls, by the target's count and by each
// instance's dispatcher_attempts_total. The split and the jobs/s are logged,
// not asserted: throughput is the benchmark's business (go run ./tests/bench
// -scenarios scaleout).
func TestTwoInstancesShareConsumer(t *testing.T) {
	t.Parallel()
	jobs := 2000
	if soak() {
		jobs = 20000
	}
	start := time.Now()
	n := startNATS(t)
	_, js := testenv.Connect(t, n.URL)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Sleep(50*time.Millisecond, testenv.OK()))
	names := []string{"one", "two"}
	var inst []*serve
	for _, name := range names {
		cfg, addr := serveConfig(t, n.URL, testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{
			"headers":     testenv.M{instanceHeader: name},
			"concurrency": 16,
		})}))
		inst = append(inst, startServe(t, cfg, addr))
	}
	for _, s := range inst {
		testenv.Eventually(t, 10*time.Second, testenv.ReadyCond(s.Addr))
	}

	ids := make([]string, jobs)
	msgs := make([]testenv.Msg, jobs)
	for i := range msgs {
		ids[i] = fmt.Sprintf("two-%05d", i)
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: ids[i], Path: "/two?job=" + ids[i]})
	}
	pubStart := time.Now()
	testenv.PublishMany(t, js, msgs)
	l := waitAllAccounted(t, js, testenv.LedgerInput{IDs: ids, Sinks: []*testenv.Sink{sink}}, []string{"a"}, 2*time.Minute)
	l.Check(t)
	if l.Missing > 0 {
		explainMissing(t, l.MissingIDs, []*testenv.Sink{sink}, inst)
	}

	calls := map[string]int{}
	var first, last time.Time
	for _, c := range sink.Calls() {
		calls[c.Header.Get(instanceHeader)]++
		if first.IsZero() || c.Arrived.Before(first) {
			first = c.Arrived
		}
		if c.Finished.After(last) {
			last = c.Finished
		}
	}
	var split []string
	for i, name := range names {
		attempts := attemptsTotal(t, inst[i].Addr, "a")
		split = append(split, fmt.Sprintf("%s %d calls (%.0f%%), %d attempts by its /metrics",
			name, calls[name], 100*float64(calls[name])/float64(max(sink.Count(), 1)), attempts))
		if calls[name] == 0 {
			t.Errorf("instance %s made no call: the consumer is not shared", name)
		}
		if attempts != calls[name] {
			t.Errorf("instance %s: %d attempts by its /metrics, %d calls seen by the target", name, attempts, calls[name])
		}
	}
	if other := sink.Count() - calls[names[0]] - calls[names[1]]; other != 0 {
		t.Errorf("%d calls without an instance's %s header", other, instanceHeader)
	}
	t.Logf("%s; %.0f jobs/s (first call to last answer, %s; publishing began %s before the first call); at most %d calls at once; %s",
		strings.Join(split, ", "), float64(jobs)/last.Sub(first).Seconds(), last.Sub(first).Round(time.Millisecond),
		first.Sub(pubStart).Round(time.Millisecond), sink.MaxInFlight(), time.Since(start).Round(time.Millisecond))
}

// attemptsTotal sums dispatcher_attempts_total of target over its status
// classes, from the /metrics of the instance at addr.
func attemptsTotal(t *testing.T, addr, target string) int {
	t.Helper()
	code, body, err := testenv.Get(addr, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics of %s: %d %v", addr, code, err)
	}
	total := 0
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "dispatcher_attempts_total{") || !strings.Contains(line, `target="`+target+`"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}
