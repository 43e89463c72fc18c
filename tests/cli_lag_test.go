package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestCLILag checks `lag` against a stream state built by hand: consumers,
// pending and in-flight jobs, retries, dead letters, fallbacks, orphans.
func TestCLILag(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	testenv.EnsureStreams(t, b.JS)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = schemas.Topology{}
	alpha, _ := testenv.LegacyConsumers(t, b.JS, "alpha")
	var err error
	var msgs []testenv.Msg
	for i := range 30 {
		msgs = append(msgs, testenv.JobMsg("alpha", schemas.Job{ID: fmt.Sprintf("lag-a-%d", i)}))
	}
	for i := range 2 {
		msgs = append(msgs, testenv.JobMsg("zzz", schemas.Job{ID: fmt.Sprintf("lag-z-%d", i)}))
	}
	b.PublishMany(t, msgs)
	for i := range 3 {
		if _, err := b.JS.Publish(ctx, fmt.Sprintf("dispatch.retry.alpha.%d", 100+i), []byte(`{"id":"r"}`)); err != nil {
			t.Fatal(err)
		}
	}
	// 5 delivered, not acked: in flight.
	batch, err := alpha.Fetch(5, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for range batch.Messages() {
		got++
	}
	if got != 5 {
		t.Fatalf("fetched %d, want 5", got)
	}
	testenv.PutDeadLetters(t, b.JS, "alpha", []string{"d1", "d2", "d3", "d4"})
	w := deadletter.NewWriter(b.JS, testenv.Prefix)
	if err := w.Fallback(ctx, &schemas.Fallback{Target: "alpha", Reason: schemas.ReasonCircuitOpen, At: time.Now()}, "fb-1"); err != nil {
		t.Fatal(err)
	}
	cfg := testenv.WriteConfig(t, b.Config(testenv.Targets(testenv.M{"alpha": testenv.Target("http://127.0.0.1:1"), "charlie": testenv.Target("http://127.0.0.1:1")})))

	r := testenv.RunCLI(t, nil, nil, "lag", "--json", "--config", cfg)
	if r.Code != 0 {
		t.Fatalf("lag --json\n%s", r)
	}
	var lag dispatcher.Lag
	if err := json.Unmarshal([]byte(r.Stdout), &lag); err != nil {
		t.Fatalf("lag --json: %v\n%s", err, r)
	}
	if len(lag.Targets) != 2 || lag.Targets[0].Target != "alpha" || lag.Targets[1].Target != "charlie" {
		t.Fatalf("targets %+v, want alpha and charlie (configured, no consumer yet)", lag.Targets)
	}
	a, c := lag.Targets[0], lag.Targets[1]
	if a.Consumer != "dispatch_alpha" || a.Pending != 25 || a.InFlight != 5 || a.Retrying != 3 || a.Dead != 4 || a.Fallback != 1 ||
		a.Redelivered != 0 || a.OldestPendingAt == nil || a.LastActive == nil {
		t.Errorf("alpha %+v", a)
	}
	if c.Consumer != "" || c.Pending != 0 {
		t.Errorf("charlie %+v", c)
	}
	if len(lag.Orphans) != 1 || lag.Orphans[0].Subject != "dispatch.jobs.zzz" || lag.Orphans[0].Messages != 2 {
		t.Errorf("orphans %+v", lag.Orphans)
	}

	r = testenv.RunCLI(t, nil, []string{"COLUMNS=0"}, "lag", "--nats-url", b.URL)
	for _, want := range []string{"PENDING", "IN FLIGHT", "RETRYING", "REDELIVERED", "DEAD", "FALLBACK", "OLDEST", "LAST ACTIVE", "ORPHANS", "dispatch.jobs.zzz"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("table lacks %q\n%s", want, r)
		}
	}
	if fields := strings.Fields(lineWith(r.Stdout, "alpha")); len(fields) < 7 || strings.Join(fields[1:7], " ") != "25 5 3 0 4 1" {
		t.Errorf("alpha row %q, want 25 5 3 0 4 1", lineWith(r.Stdout, "alpha"))
	}

	checks := []struct {
		args []string
		code int
	}{
		{[]string{"--max-pending", "25"}, 0},
		{[]string{"--max-pending", "24"}, 3},
		{[]string{"--max-pending", "0", "--target", "charlie", "--config", cfg}, 0},
		{[]string{"--max-pending", "10", "--watch"}, 2},
		{[]string{"--target", "a.b"}, 2},
	}
	for _, ck := range checks {
		r := testenv.RunCLI(t, nil, nil, append(append([]string{"lag"}, ck.args...), "--nats-url", b.URL)...)
		if r.Code != ck.code {
			t.Errorf("lag %v: exit %d, want %d\n%s", ck.args, r.Code, ck.code, r)
		}
	}
	// DISPATCHER_* variables stand in for flags.
	if r := testenv.RunCLI(t, nil, []string{"DISPATCHER_NATS_URL=" + b.URL, "DISPATCHER_MAX_PENDING=1"}, "lag"); r.Code != 3 || !strings.Contains(r.Stderr, "alpha has 25 pending") {
		t.Errorf("lag with env\n%s", r)
	}
	if r := testenv.RunCLI(t, nil, nil, "lag", "--subject-prefix", "nothing", "--nats-url", b.URL); r.Code != 1 || !strings.Contains(r.Stderr, "NOTHING_JOBS") {
		t.Errorf("lag without streams\n%s", r)
	}
}

// TestCLILagWatch runs `lag --watch` long enough for two redraws.
func TestCLILagWatch(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	testenv.EnsureStreams(t, b.JS)
	testenv.LegacyConsumers(t, b.JS, "alpha")
	p := testenv.StartProcess(t, testenv.Binary(t), "lag", "--watch", "--interval", "200ms", "--nats-url", b.URL)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		out := p.Stdout()
		return strings.Count(out, "DELIV/S") >= 2 && strings.Contains(out, "DRAIN"), "waiting for two redraws"
	})
	p.Terminate(t)
	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Errorf("lag --watch exited %d on SIGTERM, want 0", code)
	}
}

func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
