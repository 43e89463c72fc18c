package chaos

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestClusterLeaderLoss runs two `serve` instances against a three-node
// JetStream cluster (nats.replicas: 3) and, while jobs are still being
// published and delivered to a flaky target, kills the jobs stream's
// leader with SIGKILL (soak: three times, the second time the consumer's
// leader), waits until the stream and the consumer have a leader again and
// starts the killed node again: publishing (retried until acked) and
// deliveries go on, and no job goes missing.
func TestClusterLeaderLoss(t *testing.T) {
	t.Parallel()
	jobs, kills := 2000, 1
	if soak() {
		jobs, kills = 20000, 3
	}
	start := time.Now()
	cl := startCluster(t, 3)
	_, js := testenv.Connect(t, cl.URL)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(flaky(400 * time.Millisecond))
	target := testenv.Target(sink.URL, testenv.M{
		// total 1s: AckWait (4 x total + 10s), and so the redelivery of an ack
		// lost with the old leader, stays short.
		"timeouts":    testenv.M{"total": "1s", "response_header": "1s"},
		"retry":       testenv.M{"max_attempts": 5, "initial_interval": "50ms", "max_interval": "500ms"},
		"concurrency": 8,
	})
	var inst []*serve
	for range 2 {
		cfg, addr := serveConfig(t, cl.URL, testenv.M{"nats": testenv.M{"replicas": 3}},
			testenv.Targets(testenv.M{"a": target}))
		inst = append(inst, startServe(t, cfg, addr))
	}
	if info := testenv.ConsumerInfo(t, js, "a"); info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("consumer %s is not replicated on three nodes: %+v", info.Name, info.Cluster)
	}

	ids := make([]string, jobs)
	msgs := make([]testenv.Msg, jobs)
	for i := range msgs {
		ids[i] = fmt.Sprintf("cl-%05d", i)
		msgs[i] = testenv.JobMsg("a", schemas.Job{ID: ids[i], Path: "/cl?job=" + ids[i]})
	}
	// About 250 jobs/s: the publishing spans the kills.
	pub := newRetryingPublisher(t, cl.URL)
	pubStart := time.Now()
	pub.Run(msgs, 25, 100*time.Millisecond, 3*time.Minute+time.Duration(jobs)*10*time.Millisecond)

	delivered := func() int { return len(sink.Answered(200)) }
	var firstKill int // delivered when the first node was killed
	for k := range kills {
		at := jobs * (2*k + 1) / (2*kills + 2) // 1 kill: at a quarter; 3: 1/8, 3/8, 5/8
		testenv.Eventually(t, 2*time.Minute, func() (bool, string) {
			return pub.Acked() >= at+jobs/10 && delivered() >= at,
				fmt.Sprintf("%d acked, %d delivered, want %d and %d before kill %d", pub.Acked(), delivered(), at+jobs/10, at, k+1)
		})
		var leader, cons string
		testenv.Eventually(t, 30*time.Second, func() (bool, string) {
			leader = streamLeader(js, testenv.JobsStream)
			cons = consumerLeader(js, testenv.JobsStream, testenv.PartConsumerName("a"))
			return cl.node(leader) != nil && cl.node(cons) != nil, fmt.Sprintf("kill %d: stream leader %q, consumer leader %q", k+1, leader, cons)
		})
		victim, what := cl.node(leader), "stream"
		if k%2 == 1 && cons != leader {
			victim, what = cl.node(cons), "consumer" // soak: the consumer's leader too
		}
		before, acked := delivered(), pub.Acked()
		if k == 0 {
			firstKill = before
		}
		killed := time.Now()
		victim.Kill9(t)
		var newLeader, newCons string
		testenv.Eventually(t, 60*time.Second, func() (bool, string) {
			newLeader = streamLeader(js, testenv.JobsStream)
			newCons = consumerLeader(js, testenv.JobsStream, testenv.PartConsumerName("a"))
			ok := newLeader != "" && newLeader != victim.Name && newCons != "" && newCons != victim.Name
			return ok, fmt.Sprintf("stream leader %q, consumer leader %q after killing %s", newLeader, newCons, victim.Name)
		})
		elected := time.Since(killed)
		atElection := delivered()
		testenv.Eventually(t, 60*time.Second, func() (bool, string) {
			d := delivered()
			return d > atElection, fmt.Sprintf("%d delivered %s after the new leader was elected, as many as at the election", d, time.Since(killed).Round(time.Millisecond))
		})
		resumed := time.Since(killed)
		t.Logf("kill %d at %s: %s leader %s killed (stream leader %s, consumer leader %s) with %d acked, %d delivered; leaders again after %s (stream %s, consumer %s); deliveries after that within %s of the kill",
			k+1, killed.Sub(start).Round(time.Millisecond), what, victim.Name, leader, cons, acked, before,
			elected.Round(time.Millisecond), newLeader, newCons, resumed.Round(time.Millisecond))
		time.Sleep(2 * time.Second) // a while with two nodes of three
		victim.Start(t)
	}

	if err := pub.Wait(3 * time.Minute); err != nil {
		t.Fatalf("publishing: %v", err)
	}
	pubTime := time.Since(pubStart)
	afterPub := delivered()
	l := waitAllAccounted(t, js, testenv.LedgerInput{IDs: ids, Sinks: []*testenv.Sink{sink}}, []string{"a"}, 2*time.Minute)
	l.Check(t)
	if l.Missing > 0 {
		explainMissing(t, l.MissingIDs, []*testenv.Sink{sink}, inst)
	}
	for i, s := range inst {
		if s.Exited() {
			t.Errorf("serve #%d exited with %d during the leader changes", i, s.ExitCode())
		}
		t.Logf("serve #%d warnings and errors: %s", i, logTally(s.Stderr()))
	}
	t.Logf("%d published (%d publishes made again) in %s; %d jobs delivered before the first kill, %d after (%d by the end of publishing); longest gap between deliveries %s; %d calls in all; %s",
		pub.Acked(), pub.Retries(), pubTime.Round(time.Millisecond), firstKill, l.Delivered-firstKill, afterPub,
		longestGap(sink).Round(time.Millisecond), sink.Count(), time.Since(start).Round(time.Millisecond))
}

// longestGap is the longest time between two consecutive 2xx answers of
// the sink.
func longestGap(s *testenv.Sink) time.Duration {
	var at []time.Time
	for _, c := range s.Calls() {
		if !c.Finished.IsZero() && c.Status >= 200 && c.Status < 300 && !c.ClientGone {
			at = append(at, c.Finished)
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	for i := 1; i < len(at); i++ {
		gap = max(gap, at[i].Sub(at[i-1]))
	}
	return gap
}

// logTally counts the warn and error lines of a JSON log by level and
// message, e.g. `warn "consume" x3`.
func logTally(log string) string {
	counts := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || (e.Level != "warn" && e.Level != "error") {
			continue
		}
		counts[fmt.Sprintf("%s %q", e.Level, e.Msg)]++
	}
	keys := slices.Sorted(maps.Keys(counts))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s x%d", k, counts[k]))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
