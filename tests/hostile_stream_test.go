package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// Attacks a publisher with rights on <p>.jobs.> can make on the jobs stream
// itself with NATS headers the server acts on (docs/contract.md section
// 10.2): none of them may make a waiting job disappear without a call or a
// dead letter. Account permissions (deploy/nats/accounts.conf) restrict
// subjects, not headers.

// hostileQueue is a service with a slow target "slow" (one call at a time,
// 50ms each) and hostileQueued jobs waiting for it, and a fast target
// "other". before, when not nil, runs before the service starts.
type hostileQueue struct {
	b     *testenv.Broker
	slow  *testenv.Sink
	other *testenv.Sink
	ids   []string
}

const hostileQueued = 60

func newHostileQueue(t *testing.T, before func(t *testing.T, b *testenv.Broker)) *hostileQueue {
	t.Helper()
	q := &hostileQueue{b: testenv.NewBroker(t), slow: testenv.NewSink(t), other: testenv.NewSink(t)}
	q.slow.SetBehaviour(testenv.Sleep(50*time.Millisecond, testenv.OK()))
	if before != nil {
		before(t, q.b)
	}
	testenv.RunService(t, q.b.Config(testenv.Targets(testenv.M{
		"slow":  testenv.Target(q.slow.URL, testenv.M{"concurrency": 1}),
		"other": testenv.Target(q.other.URL),
	})))
	msgs := make([]testenv.Msg, 0, hostileQueued)
	for i := range hostileQueued {
		id := fmt.Sprintf("queued-%02d", i)
		q.ids = append(q.ids, id)
		msgs = append(msgs, testenv.JobMsg("slow", schemas.Job{ID: id}))
	}
	q.b.PublishMany(t, msgs)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return q.slow.Count() > 0, "waiting for the first call" })
	return q
}

// hostile publishes m as a publisher would and returns the server's answer.
func (q *hostileQueue) hostile(t *testing.T, m *nats.Msg) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := q.b.JS.PublishMsg(ctx, m)
	t.Logf("hostile publish on %s %v: err=%v; jobs stream now holds %d messages", m.Subject, m.Header, err,
		testenv.CountMsgs(t, q.b.JS, testenv.JobsStream, ">"))
	return err
}

// lost waits until every queued job is called or dead-lettered, or until
// nothing is left to do (no job of "slow" stored, scheduled or in flight
// for a second), and returns the jobs that were neither.
func (q *hostileQueue) lost(t *testing.T) []string {
	t.Helper()
	var missing []string
	quiet := time.Time{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		calls := q.slow.ByKey()
		dead := map[string]bool{}
		for _, d := range testenv.DeadLetters(t, q.b.JS, "slow") {
			dead[d.Header.Get(schemas.HeaderJobID)] = true
		}
		missing = slices.DeleteFunc(slices.Clone(q.ids), func(id string) bool { return len(calls[id]) > 0 || dead[id] })
		if len(missing) == 0 {
			return nil
		}
		idle := testenv.CountMsgs(t, q.b.JS, testenv.JobsStream, testenv.JobsSubject("slow")) == 0 &&
			testenv.CountMsgs(t, q.b.JS, testenv.JobsStream, testenv.Topo.RetryWildcard()) == 0 &&
			testenv.CountMsgs(t, q.b.JS, testenv.Topo.SchedStream(), testenv.Topo.SchedSubject("slow", ">")) == 0 &&
			testenv.CountMsgs(t, q.b.JS, testenv.Topo.SchedStream(), testenv.Stored(testenv.Topo.DueSubject("slow"))) == 0 &&
			testenv.ConsumerInfo(t, q.b.JS, "slow").NumAckPending == 0 && q.slow.InFlight() == 0
		switch {
		case !idle:
			quiet = time.Time{}
		case quiet.IsZero():
			quiet = time.Now()
		case time.Since(quiet) > time.Second:
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
	return missing
}

// hostileMsg is a valid job for target with the given NATS headers.
func hostileMsg(subject, id string, hdr ...string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = []byte(fmt.Sprintf(`{"id":%q}`, id))
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	return m
}

// deployments are the jobs streams the attacks are made on: created by this
// version, and created by a version before the scheduling stream (commit
// 2c8b3a6), then taken over by this one.
var deployments = []struct {
	name   string
	before func(t *testing.T, b *testenv.Broker)
}{
	{"fresh", nil},
	{"migrated", func(t *testing.T, b *testenv.Broker) { legacyJobsStream(t, b.JS) }},
}

// TestHostileRollup: Nats-Rollup (all: the whole stream; sub: the subject)
// on a jobs subject purges the jobs waiting there.
func TestHostileRollup(t *testing.T) {
	t.Parallel()
	for _, dep := range deployments {
		for _, rollup := range []string{"all", "sub"} {
			t.Run(dep.name+"/"+rollup, func(t *testing.T) {
				t.Parallel()
				skipLegacy(t, dep.name)
				q := newHostileQueue(t, dep.before)
				if err := q.hostile(t, hostileMsg(testenv.JobsSubject("slow"), "hostile-rollup", "Nats-Rollup", rollup)); err == nil {
					t.Errorf("the jobs stream accepted a publish with Nats-Rollup: %s", rollup)
				}
				if lost := q.lost(t); len(lost) > 0 {
					t.Errorf("Nats-Rollup: %s: %d of %d waiting jobs were neither called nor dead-lettered: %v", rollup, len(lost), len(q.ids), lost)
				}
			})
		}
	}
}

// TestHostileSchedule: a Nats-Schedule header on a jobs subject makes the
// server add Nats-Rollup: sub, which purges the subject's waiting jobs.
func TestHostileSchedule(t *testing.T) {
	t.Parallel()
	for _, dep := range deployments {
		t.Run(dep.name, func(t *testing.T) {
			t.Parallel()
			skipLegacy(t, dep.name)
			q := newHostileQueue(t, dep.before)
			if err := q.hostile(t, hostileMsg(testenv.JobsSubject("slow"), "hostile-schedule",
				"Nats-Schedule", "@at 2099-01-01T00:00:00Z", "Nats-Schedule-Target", testenv.JobsSubject("other"))); err == nil {
				t.Error("the jobs stream accepted a publish with Nats-Schedule")
			}
			if lost := q.lost(t); len(lost) > 0 {
				t.Errorf("Nats-Schedule: %d of %d waiting jobs were neither called nor dead-lettered: %v", len(lost), len(q.ids), lost)
			}
		})
	}
}

// TestHostileSchedulePurge: Nats-Schedule-Next: purge with Nats-Scheduler
// names a subject whose schedule the server purges. Jobs are not schedules,
// so on a jobs subject the server refuses it; what it can purge is a
// scheduled copy in the jobs stream, which only a deployment migrated from a
// version before the scheduling stream holds (<p>.retry.<target>.<seq>,
// seq the jobs stream sequence of the delivery: easy to guess).
func TestHostileSchedulePurge(t *testing.T) {
	t.Parallel()
	for _, dep := range deployments {
		t.Run(dep.name+"/jobs subject", func(t *testing.T) {
			t.Parallel()
			skipLegacy(t, dep.name)
			q := newHostileQueue(t, dep.before)
			err := q.hostile(t, hostileMsg(testenv.JobsSubject("other"), "hostile-purge",
				"Nats-Schedule-Next", "purge", "Nats-Scheduler", testenv.JobsSubject("slow")))
			if err == nil {
				t.Errorf("the server accepted a purge of the schedule on %s", testenv.JobsSubject("slow"))
			}
			if lost := q.lost(t); len(lost) > 0 {
				t.Errorf("Nats-Schedule-Next: purge: %d of %d waiting jobs were neither called nor dead-lettered: %v", len(lost), len(q.ids), lost)
			}
		})
	}
	t.Run("migrated/legacy retry copy", func(t *testing.T) {
		t.Parallel()
		skipLegacy(t, "migrated")
		legacy := testenv.Topo.RetrySubject("slow", "7")
		q := newHostileQueue(t, func(t *testing.T, b *testenv.Broker) {
			// A retry copy as a version before the scheduling stream left it.
			legacyJobsStream(t, b.JS)
			testenv.Publish(t, b.JS, testenv.Msg{Subject: legacy, ID: "retry:slow:7", Data: []byte(`{"id":"legacy-copy"}`),
				Header: nats.Header{"Nats-Schedule": {"@at " + time.Now().Add(4*time.Second).UTC().Format(time.RFC3339Nano)},
					"Nats-Schedule-Target": {testenv.JobsSubject("slow")}}})
		})
		q.ids = append(q.ids, "legacy-copy")
		_ = q.hostile(t, hostileMsg(testenv.JobsSubject("other"), "hostile-purge",
			"Nats-Schedule-Next", "purge", "Nats-Scheduler", legacy))
		if lost := q.lost(t); len(lost) > 0 {
			t.Errorf("Nats-Schedule-Next: purge of %s: %d of %d jobs were neither called nor dead-lettered: %v", legacy, len(lost), len(q.ids), lost)
		}
	})
}

// skipLegacy skips the attacks on a jobs stream created by a version before
// partitions: it allows schedules, so the server keeps rollups on, and
// JetStream cannot turn that off on an existing stream; 'dispatcher streams
// migrate-jobs' recreates it (its test shows the attack refused after).
// Measured on such a stream: one publish with Nats-Rollup (all or sub) or
// Nats-Schedule on dispatch.jobs.slow loses the jobs waiting there (44 of
// 60, the 16 the worker had fetched are still called); Nats-Schedule-Next:
// purge naming a retry copy dispatch.retry.slow.<seq> deletes it.
func skipLegacy(t *testing.T, deployment string) {
	if deployment == "migrated" {
		t.Skip("a jobs stream created before partitions allows schedules and rollups until 'dispatcher streams migrate-jobs' recreates it (contract 1.3)")
	}
}

// legacyJobsStream creates the jobs stream as the versions before the
// scheduling stream did (commit 2c8b3a6, dispatcher/topology.go).
func legacyJobsStream(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: testenv.JobsStream, Description: "dispatcher jobs (and their scheduled retries)",
		Subjects:  []string{testenv.Prefix + ".jobs.>", testenv.Prefix + ".retry.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: 1,
		Discard: jetstream.DiscardOld, Duplicates: 2 * time.Minute,
		AllowMsgSchedules: true, AllowRollup: true, AllowDirect: true,
	})
	if err != nil {
		t.Fatalf("legacy jobs stream: %v", err)
	}
}

// TestHostileOrphanSubjectTokens: a job on a jobs subject of several tokens
// (dispatch.jobs.evil.t1) is an orphan whatever its last token names — no
// target's consumer reads it (their filters are dispatch.jobs.<target>). It
// is never called on target t1; lag shows it as an orphan with its whole
// subject; its dead letter and dlq name it in full; a replay puts it back on
// exactly that subject.
func TestHostileOrphanSubjectTokens(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	testenv.EnsureStreams(t, b.JS)
	sink := testenv.NewSink(t)
	const subject, tail = "dispatch.jobs.evil.t1", "evil.t1"
	testenv.Publish(t, b.JS, testenv.Msg{Subject: subject, ID: "evil-1", Data: []byte(`{"id":"evil-1","path":"/evil"}`)})
	cfgText := b.Config(testenv.M{"orphan_grace": "1s"}, testenv.Targets(testenv.M{"t1": testenv.Target(sink.URL)}))
	cfg := testenv.WriteConfig(t, cfgText)

	lagJSON := func(t *testing.T) dispatcher.Lag {
		t.Helper()
		r := testenv.RunCLI(t, nil, nil, "lag", "--json", "--config", cfg)
		var lag dispatcher.Lag
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &lag) != nil {
			t.Fatalf("lag --json\n%s", r)
		}
		return lag
	}
	lag := lagJSON(t)
	if len(lag.Orphans) != 1 || lag.Orphans[0].Subject != subject || lag.Orphans[0].Target != tail || lag.Orphans[0].Messages != 1 {
		t.Errorf("lag --json: orphans %+v, want %s (target %s, 1 job)", lag.Orphans, subject, tail)
	}
	if r := testenv.RunCLI(t, nil, []string{"COLUMNS=0"}, "lag", "--config", cfg); !strings.Contains(r.Stdout, "ORPHANS") || !strings.Contains(lineWith(r.Stdout, subject), subject) {
		t.Errorf("lag does not show %s among the orphans\n%s", subject, r)
	}

	svc := testenv.RunService(t, cfgText)
	d := testenv.WaitDeadLetters(t, b.JS, tail, 1, 15*time.Second)[0]
	if d.Subject != testenv.DLQSubject(tail) || d.Rec.Target != tail || d.Rec.Reason != schemas.ReasonUnknownTarget {
		t.Errorf("dead letter on %s, target %q, reason %s; want %s, %q, unknown_target", d.Subject, d.Rec.Target, d.Rec.Reason, testenv.DLQSubject(tail), tail)
	}
	svc.Stop(t)
	if n := sink.Count(); n != 0 {
		t.Errorf("target t1 was called %d times for a job on %s", n, subject)
	}
	lag = lagJSON(t)
	for _, tl := range lag.Targets {
		if tl.Target == "t1" && tl.Dead != 0 {
			t.Errorf("lag counts the orphan's dead letter as t1's: %+v", tl)
		}
	}
	r := testenv.RunCLI(t, nil, []string{"COLUMNS=0"}, "dlq", "ls", "--nats-url", b.URL)
	row := ""
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.Contains(l, "unknown_target") {
			row = l
		}
	}
	if f := strings.Fields(row); r.Code != 0 || len(f) < 3 || f[2] != tail {
		t.Errorf("dlq ls: the orphan's row %q, want target %s\n%s", row, tail, r)
	}

	r = testenv.RunCLI(t, nil, nil, "dlq", "replay", "--seq", fmt.Sprint(d.Seq), "--json", "--nats-url", b.URL)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"target":"`+tail+`"`) {
		t.Errorf("dlq replay\n%s", r)
	}
	on := testenv.JobsOn(t, b.JS, subject)
	if len(on) != 1 || on[0].Header.Get(schemas.HeaderReplayOf) != fmt.Sprint(d.Seq) {
		t.Errorf("after the replay %s holds %d jobs, want the replayed one", subject, len(on))
	}
	if n := len(testenv.JobsOn(t, b.JS, testenv.JobsSubject("t1"))); n != 0 {
		t.Errorf("the replay put %d jobs on %s", n, testenv.JobsSubject("t1"))
	}
}
