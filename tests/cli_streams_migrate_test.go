package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// 'dispatcher streams migrate-jobs' recreates a jobs stream made before
// partitions (it allows schedules, so rollups) without schedules, losing
// and doubling nothing (docs/cli.md#streams-migrate-jobs).

var migrateTargets = []string{"alpha", "bravo", "charlie"}

const (
	orphanSubject = "dispatch.jobs.evil.t1" // a multi-token subject: stored as published
	holdingStream = "DISPATCH_JOBS_MIGRATION"
)

// legacyDeployment is a jobs stream created by a version before partitions
// and then used by this one: jobs stored before the transform (on
// dispatch.jobs.<t>) and after it (dispatch.part.<k>.<t>), a multi-token
// orphan, a retry copy that fired before the migration (a job on
// dispatch.jobs.alpha), retry copies due in a day (dispatch.retry.<t>.<seq>,
// as the versions before the scheduling stream made them) and one due in a
// second or two (it fires before, during or after the copy).
type legacyDeployment struct {
	b *testenv.Broker
	// jobs are the ids of the jobs stored, by target ("" for the orphan).
	jobs map[string]string
	// far are the retry copies due in a day, by id: their target and due time.
	far  map[string]farCopy
	soon string
}

type farCopy struct {
	target string
	at     time.Time
}

func newLegacyDeployment(t *testing.T, n, far int) *legacyDeployment {
	t.Helper()
	return newLegacyDeploymentSoon(t, n, far, false, 1500*time.Millisecond)
}

// newLegacyDeploymentSoon is newLegacyDeployment with the copy due soon
// stored first (before the jobs) when first, due in soon.
func newLegacyDeploymentSoon(t *testing.T, n, far int, first bool, soon time.Duration) *legacyDeployment {
	t.Helper()
	d := &legacyDeployment{b: testenv.NewBroker(t), jobs: map[string]string{}, far: map[string]farCopy{}}
	js := d.b.JS
	legacyJobsStream(t, js)
	jobs := func(from, to int) []testenv.Msg {
		var msgs []testenv.Msg
		for i := from; i < to; i++ {
			id, tg := fmt.Sprintf("job-%05d", i), migrateTargets[i%len(migrateTargets)]
			d.jobs[id] = tg
			msgs = append(msgs, testenv.JobMsg(tg, schemas.Job{ID: id}))
		}
		return msgs
	}
	retry := func(target, id string, seq int, at time.Time) testenv.Msg {
		return testenv.Msg{Subject: testenv.Topo.RetrySubject(target, fmt.Sprint(seq)), ID: fmt.Sprintf("retry:%s:%d", target, seq),
			Data: []byte(fmt.Sprintf(`{"id":%q}`, id)),
			Header: nats.Header{"Nats-Schedule": {"@at " + at.UTC().Format(time.RFC3339Nano)},
				"Nats-Schedule-Target": {testenv.JobsSubject(target)}, schemas.HeaderAttempts: {"2"}, "X-Trace": {"kept"}}}
	}
	setupStart := time.Now()
	d.soon = "soon-1"
	soonCopy := retry("bravo", d.soon, 99999, time.Now().Add(soon))
	if first {
		d.b.Publish(t, soonCopy)
	}
	// Before the transform: stored on dispatch.jobs.<t>.
	d.b.PublishMany(t, jobs(0, n/2))
	d.b.Publish(t, retry("alpha", "fired-1", 1, time.Now().Add(-time.Minute)))
	d.jobs["fired-1"] = "alpha"
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		c := testenv.CountMsgs(t, js, testenv.JobsStream, testenv.Topo.RetrySubject("alpha", "1"))
		return c == 0, "the retry copy due a minute ago has not fired"
	})
	// This version's service sets the transform (and makes the other
	// streams); it cannot turn the schedules off.
	testenv.EnsureStreams(t, js)
	d.b.PublishMany(t, jobs(n/2, n))
	d.b.Publish(t, testenv.Msg{Subject: orphanSubject, ID: "orphan-1", Data: []byte(`{"id":"orphan-1"}`)})
	d.jobs["orphan-1"] = ""
	var msgs []testenv.Msg
	day := time.Now().Add(24 * time.Hour).Truncate(time.Millisecond)
	for i := range far {
		id, tg := fmt.Sprintf("far-%04d", i), migrateTargets[i%len(migrateTargets)]
		at := day.Add(time.Duration(i) * time.Second)
		d.far[id] = farCopy{tg, at}
		msgs = append(msgs, retry(tg, id, 100000+i, at))
	}
	if !first {
		msgs = append(msgs, soonCopy)
	}
	d.b.PublishMany(t, msgs)
	t.Logf("legacy deployment of %d jobs and %d retry copies stored in %s", n, far+1, time.Since(setupStart).Round(time.Millisecond))
	si := streamInfo(t, js, testenv.JobsStream)
	if !si.Config.AllowMsgSchedules || si.Config.SubjectTransform == nil || (first && si.State.FirstSeq != 1) {
		t.Fatalf("the legacy jobs stream: %+v %+v", si.State, si.Config)
	}
	return d
}

func streamInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return st.CachedInfo()
}

// storedMsgs reads every message of stream (none when there is no such
// stream), without consuming any.
func storedMsgs(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatalf("read %s at %d: %v", stream, seq, err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

// storedMsgsOn reads the messages of stream stored on subject.
func storedMsgsOn(t *testing.T, js jetstream.JetStream, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	var out []*jetstream.RawStreamMsg
	for _, m := range storedMsgs(t, js, stream) {
		if m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

func jobID(t *testing.T, data []byte) string {
	t.Helper()
	var j struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatalf("a stored message is not a job: %v: %q", err, data)
	}
	return j.ID
}

// placed lists where each job is now: its subject in the jobs stream, or
// "sched:<subject>" / "due:<subject>" in the scheduling stream, or
// "held:<subject>" in the holding stream.
func (d *legacyDeployment) placed(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, src := range []struct{ stream, tag string }{
		{testenv.JobsStream, ""}, {holdingStream, "held:"}, {testenv.Topo.SchedStream(), "sched:"},
	} {
		for _, m := range storedMsgs(t, d.b.JS, src.stream) {
			if strings.HasPrefix(m.Subject, testenv.Topo.MigrationProgressSubject()) || strings.HasPrefix(m.Subject, "dispatch.settled.") {
				continue
			}
			out[jobID(t, m.Data)] = append(out[jobID(t, m.Data)], src.tag+m.Subject)
		}
	}
	return out
}

// checkNothingLost checks that every job and retry copy is somewhere.
func (d *legacyDeployment) checkNothingLost(t *testing.T, when string) {
	t.Helper()
	at := d.placed(t)
	for _, id := range d.ids() {
		if len(at[id]) == 0 {
			t.Errorf("%s: job %s is nowhere", when, id)
		}
	}
}

// logStreams logs how many messages each stream holds, and the holding
// stream's progress note.
func (d *legacyDeployment) logStreams(t *testing.T, when string) {
	t.Helper()
	var parts []string
	for _, name := range []string{testenv.JobsStream, holdingStream, testenv.Topo.SchedStream()} {
		if si := streamInfo(t, d.b.JS, name); si != nil {
			parts = append(parts, fmt.Sprintf("%s %d (seq %d-%d, schedules %v)", name, si.State.Msgs, si.State.FirstSeq, si.State.LastSeq, si.Config.AllowMsgSchedules))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := d.b.JS.Stream(ctx, holdingStream); err == nil {
		if m, err := st.GetLastMsgForSubject(ctx, testenv.Topo.MigrationProgressSubject()); err == nil {
			parts = append(parts, "progress "+string(m.Data))
		}
	}
	t.Logf("%s: %s", when, strings.Join(parts, "; "))
}

func (d *legacyDeployment) ids() []string {
	var ids []string
	for id := range d.jobs {
		ids = append(ids, id)
	}
	for id := range d.far {
		ids = append(ids, id)
	}
	return append(ids, d.soon)
}

// checkMigrated checks the new streams: the jobs stream without schedules
// or rollups and with the transform, no holding stream, every job stored
// once in its partition (the orphan as published), every far retry copy a
// scheduled copy due at the same time, the soon one once somewhere.
func (d *legacyDeployment) checkMigrated(t *testing.T) {
	t.Helper()
	js := d.b.JS
	si := streamInfo(t, js, testenv.JobsStream)
	src, dst := testenv.Topo.JobsTransform(testenv.Partitions)
	if si == nil || si.Config.AllowMsgSchedules || si.Config.AllowRollup || si.Config.SubjectTransform == nil ||
		si.Config.SubjectTransform.Source != src || si.Config.SubjectTransform.Destination != dst ||
		len(si.Config.Subjects) != 1 || si.Config.Subjects[0] != testenv.Topo.JobsWildcard() || si.Config.DenyDelete {
		t.Fatalf("the new jobs stream: %+v", si)
	}
	if h := streamInfo(t, js, holdingStream); h != nil {
		t.Errorf("the holding stream is still there: %+v", h.State)
	}
	at := d.placed(t)
	for id, tg := range d.jobs {
		want := orphanSubject
		if tg != "" {
			want = testenv.Stored(testenv.JobsSubject(tg))
		}
		if got := at[id]; len(got) != 1 || got[0] != want {
			t.Errorf("job %s (target %q) is stored on %v, want once on %s", id, tg, got, want)
		}
	}
	if got := at[d.soon]; len(got) != 1 {
		t.Errorf("the retry copy due soon is on %v, want once", got)
	}
	sched := map[string]*jetstream.RawStreamMsg{}
	for _, m := range storedMsgs(t, js, testenv.Topo.SchedStream()) {
		if strings.HasPrefix(m.Subject, "dispatch.sched.") {
			sched[jobID(t, m.Data)] = m
		}
	}
	for id, fc := range d.far {
		m := sched[id]
		if m == nil || len(at[id]) != 1 {
			t.Errorf("far retry copy %s: %v, want once as a scheduled copy", id, at[id])
			continue
		}
		if !strings.HasPrefix(m.Subject, "dispatch.sched."+fc.target+".DISPATCH_JOBS-") ||
			m.Header.Get("Nats-Schedule") != "@at "+fc.at.UTC().Format(time.RFC3339Nano) ||
			m.Header.Get("Nats-Schedule-Target") != testenv.Topo.DueSubject(fc.target) ||
			m.Header.Get(schemas.HeaderAttempts) != "" || m.Header.Get("X-Trace") != "kept" {
			t.Errorf("far retry copy %s: %s %v; want dispatch.sched.%s.DISPATCH_JOBS-<seq>, @at %s, target %s, no retry state, X-Trace kept",
				id, m.Subject, m.Header, fc.target, fc.at.UTC().Format(time.RFC3339Nano), testenv.Topo.DueSubject(fc.target))
		}
	}
	// A publisher's rollup is refused now, and purges nothing.
	before := si.State.Msgs
	err := publishErr(js, hostileMsg(testenv.JobsSubject("alpha"), "hostile-rollup", "Nats-Rollup", "all"))
	if err == nil {
		t.Errorf("a publish with Nats-Rollup: all was accepted")
	}
	if after := streamInfo(t, js, testenv.JobsStream).State.Msgs; after != before {
		t.Errorf("the jobs stream held %d messages before the rollup, %d after", before, after)
	}
}

func publishErr(js jetstream.JetStream, m *nats.Msg) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := js.PublishMsg(ctx, m)
	return err
}

// migrateJSON runs migrate-jobs with args and --json, and decodes its output.
func migrateJSON(t *testing.T, url string, wantCode int, args ...string) map[string]any {
	t.Helper()
	r := testenv.RunCLI(t, nil, nil, append([]string{"streams", "migrate-jobs", "--json", "--nats-url", url}, args...)...)
	if r.Code != wantCode {
		t.Fatalf("exit %d, want %d\n%s", r.Code, wantCode, r)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r)
	}
	return out
}

func num(m map[string]any, path ...string) float64 {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	f, _ := v.(float64)
	return f
}

// retryingPublisher publishes jobs to alpha one after another until
// stopped, each until JetStream acknowledges it (a publisher's duty while
// the stream is recreated), and measures the longest run of failures.
type retryingPublisher struct {
	js      jetstream.JetStream
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	ids     []string
	longest time.Duration
	fails   int
	errs    map[string]int
}

func startRetryingPublisher(js jetstream.JetStream) *retryingPublisher {
	p := &retryingPublisher{js: js, stop: make(chan struct{}), done: make(chan struct{}), errs: map[string]int{}}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			id := fmt.Sprintf("live-%05d", i)
			var failingSince time.Time
			for {
				select {
				case <-p.stop:
					return
				default:
				}
				m := testenv.JobMsg("alpha", schemas.Job{ID: id}).NATSMsg()
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				_, err := p.js.PublishMsg(ctx, m)
				cancel()
				if err == nil {
					break
				}
				p.mu.Lock()
				p.fails++
				p.errs[fmt.Sprintf("%v after %s", err, time.Since(t0).Round(10*time.Millisecond))]++
				p.mu.Unlock()
				if failingSince.IsZero() {
					failingSince = time.Now()
				}
				time.Sleep(5 * time.Millisecond)
			}
			p.mu.Lock()
			p.ids = append(p.ids, id)
			if !failingSince.IsZero() {
				p.longest = max(p.longest, time.Since(failingSince))
			}
			p.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return p
}

func (p *retryingPublisher) Stop() { close(p.stop); <-p.done }

// published returns how many jobs the publisher has had acked.
func (p *retryingPublisher) published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}

// awaitPublished waits until the publisher has had n more jobs acked than
// it had at from.
func (p *retryingPublisher) awaitPublished(t *testing.T, from, n int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		return p.published() >= from+n, fmt.Sprintf("%d jobs published, want %d", p.published(), from+n)
	})
}

// TestCLIStreamsMigrateJobs migrates a legacy deployment of 3,000 jobs
// while a publisher keeps publishing (retrying what fails), checks the new
// streams, then runs the service: every job is called exactly once.
func TestCLIStreamsMigrateJobs(t *testing.T) {
	t.Parallel()
	const n = 3000
	d := newLegacyDeployment(t, n, 5)
	url := d.b.URL

	plan := migrateJSON(t, url, 0, "--dry-run")
	// The copy due soon is a retry copy, or a job once it fired (or both,
	// when it fired while being counted: then it is counted as fired).
	if plan["stage"] != "pending" || num(plan, "counts", "multi_token") != 1 ||
		num(plan, "counts", "jobs")+num(plan, "counts", "partitioned")+num(plan, "counts", "retry_copies")-num(plan, "counts", "retry_copies_fired") != n+1+5+1 {
		t.Errorf("dry run: %v", plan)
	}
	if r := testenv.RunCLI(t, nil, []string{"COLUMNS=0"}, "streams", "migrate-jobs", "--dry-run", "--nats-url", url); r.Code != 0 ||
		!strings.Contains(r.Stdout, "would move") || !strings.Contains(r.Stdout, "retry copies") {
		t.Errorf("dry run\n%s", r)
	}
	if r := testenv.RunCLI(t, nil, nil, "streams", "migrate-jobs", "--nats-url", url); r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
		t.Errorf("without --yes and a terminal\n%s", r)
	}
	if !streamInfo(t, d.b.JS, testenv.JobsStream).Config.AllowMsgSchedules {
		t.Fatal("the dry run or the refusal changed the jobs stream")
	}

	pub := startRetryingPublisher(d.b.JS)
	pub.awaitPublished(t, 0, 20) // publishing before the migration starts
	start := time.Now()
	out := migrateJSON(t, url, 0, "--yes")
	took := time.Since(start)
	pub.awaitPublished(t, pub.published(), 20) // and after it ended
	pub.Stop()
	t.Logf("migrated %d jobs in %s (the command's own count: %.3fs); publishes failed for %.3fs by its count; the publisher's longest run of failures %s (%d failed publishes, %d jobs published meanwhile)",
		n, took.Round(time.Millisecond), num(out, "seconds"), num(out, "window_seconds"), pub.longest.Round(time.Millisecond), pub.fails, len(pub.ids))
	t.Logf("the publisher's errors: %v", pub.errs)
	held := num(out, "report", "counts", "jobs") + num(out, "report", "counts", "partitioned") + num(out, "report", "counts", "multi_token")
	if out["migrated"] != true || num(out, "report", "republished")+num(out, "report", "already_stored") != held ||
		num(out, "report", "rescheduled")+num(out, "report", "counts", "retry_copies_fired") != num(out, "report", "counts", "retry_copies") ||
		num(out, "window_seconds") <= 0 {
		t.Errorf("migrate-jobs: %v", out)
	}
	for _, id := range pub.ids {
		d.jobs[id] = "alpha"
	}
	d.checkMigrated(t)
	if r := testenv.RunCLI(t, nil, nil, "streams", "migrate-jobs", "--yes", "--nats-url", url); r.Code != 0 || !strings.Contains(r.Stdout, "nothing to migrate") {
		t.Errorf("a second run\n%s", r)
	}

	sinks := map[string]*testenv.Sink{}
	byName := testenv.M{}
	for _, tg := range migrateTargets {
		sinks[tg] = testenv.NewSink(t)
		byName[tg] = testenv.Target(sinks[tg].URL)
	}
	testenv.RunService(t, d.b.Config(testenv.Targets(byName)))
	want := map[string]string{d.soon: "bravo"}
	for id, tg := range d.jobs {
		if tg != "" {
			want[id] = tg
		}
	}
	calls := func() map[string]int {
		c := map[string]int{}
		for _, tg := range migrateTargets {
			for key, cs := range sinks[tg].ByKey() {
				c[key] += len(cs)
			}
		}
		return c
	}
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		c := calls()
		return len(c) >= len(want), fmt.Sprintf("%d of %d jobs called", len(c), len(want))
	})
	time.Sleep(time.Second) // a second call would come now
	c := calls()
	for id, tg := range want {
		if c[id] != 1 {
			t.Errorf("job %s (target %s) called %d times, want once", id, tg, c[id])
		}
	}
	for id := range d.far {
		if c[id] != 0 {
			t.Errorf("retry copy %s, due in a day, was called", id)
		}
	}
	if len(c) != len(want) {
		t.Errorf("%d jobs called, want %d", len(c), len(want))
	}
}

// TestCLIStreamsMigrateJobsRefused: with an instance live, or a delivery
// whose outcome was stored and not acked, migrate-jobs refuses with status
// 4 and changes nothing; deliveries merely not acked (handed back) do not
// stop it; on a stream that allows no schedules it has nothing to do.
func TestCLIStreamsMigrateJobsRefused(t *testing.T) {
	t.Parallel()
	d := newLegacyDeployment(t, 30, 1)
	url, js := d.b.URL, d.b.JS
	unchanged := func(when string) {
		t.Helper()
		si := streamInfo(t, js, testenv.JobsStream)
		if si == nil || !si.Config.AllowMsgSchedules || len(si.Config.Subjects) != 2 || si.Config.DenyDelete {
			t.Errorf("%s: the jobs stream changed: %+v", when, si)
		}
		if h := streamInfo(t, js, holdingStream); h != nil {
			t.Errorf("%s: a holding stream was created", when)
		}
	}

	// An instance serving another target: it hands the deployment's jobs
	// back (and sweeps no orphan within the hour).
	sink := testenv.NewSink(t)
	svc := testenv.RunService(t, d.b.Config(testenv.M{"orphan_grace": "1h"}, testenv.Targets(testenv.M{"delta": testenv.Target(sink.URL)})))
	r := testenv.RunCLI(t, nil, nil, "streams", "migrate-jobs", "--yes", "--nats-url", url)
	if r.Code != 4 || !strings.Contains(r.Stderr, "instance(s) live") || !strings.Contains(r.Stderr, "nothing changed") {
		t.Errorf("with an instance live\n%s", r)
	}
	if r := testenv.RunCLI(t, nil, nil, "streams", "migrate-jobs", "--dry-run", "--nats-url", url); r.Code != 4 || !strings.Contains(r.Stdout, "refused") {
		t.Errorf("dry run with an instance live\n%s", r)
	}
	unchanged("with an instance live")
	svc.Stop(t)

	// A delivery whose outcome was stored (its settle marker) and not
	// acked, as an instance that crashed between the two leaves it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, testenv.JobsStream, jetstream.ConsumerConfig{
		Durable: testenv.Topo.ConsumerName("alpha"), FilterSubject: testenv.JobsSubject("alpha"), AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var held jetstream.Msg
	for m := range batch.Messages() {
		held = m
	}
	if held == nil {
		t.Fatal("no delivery")
	}
	meta, _ := held.Metadata()
	marker := testenv.Topo.SettledSubject(schemas.DeliveryKey(testenv.JobsStream, meta.Sequence.Stream))
	testenv.Publish(t, js, testenv.Msg{Subject: marker, Data: []byte(`{"kind":"schedule"}`), Header: nats.Header{"Nats-TTL": {"10m"}}})
	r = testenv.RunCLI(t, nil, nil, "streams", "migrate-jobs", "--yes", "--nats-url", url)
	if r.Code != 4 || !strings.Contains(r.Stderr, fmt.Sprintf("1 deliveries of the jobs stream (sequence %d…) had their outcome stored but not acked", meta.Sequence.Stream)) {
		t.Errorf("with a delivery settled and not acked\n%s", r)
	}
	unchanged("with a delivery settled and not acked")

	// Handed back, a delivery stays pending for JetStream until it is
	// delivered again; without an outcome stored it is moved like any job.
	if err := held.Nak(); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, testenv.Topo.SchedStream())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(marker)); err != nil {
		t.Fatal(err)
	}
	if ci, err := cons.Info(ctx); err != nil || ci.NumAckPending != 1 {
		t.Fatalf("the naked delivery: %+v, %v; want it ack pending", ci, err)
	}
	if r := testenv.RunCLI(t, nil, nil, "streams", "migrate-jobs", "--yes", "--nats-url", url); r.Code != 0 || !strings.Contains(r.Stdout, "migrated DISPATCH_JOBS") {
		t.Fatalf("once no delivery is settled and not acked\n%s", r)
	}
	d.checkMigrated(t)
	if r := testenv.RunCLI(t, nil, nil, "streams", "migrate-jobs", "--dry-run", "--nats-url", url); r.Code != 0 || !strings.Contains(r.Stdout, "nothing to migrate") {
		t.Errorf("on the new stream\n%s", r)
	}
}

// TestCLIStreamsMigrateJobsKilled kills migrate-jobs (SIGKILL, from a
// test hook) at every stage of a migration of 4,000 jobs and 300 retry
// copies — after the holding stream is made, after the old stream is
// retired, twice in the middle of the copy, before and after the old
// stream is deleted, after the new one is created, twice in the middle of
// publishing the jobs again (a batch sent and not acked), in the middle of
// rescheduling the retry copies, and before the holding stream is deleted
// — and reruns it each time: after each kill every job is somewhere; in
// the end every one is stored exactly once.
func TestCLIStreamsMigrateJobsKilled(t *testing.T) {
	t.Parallel()
	const n, far = 4000, 300
	bin := testenv.CrashHookBinary(t)
	// The copy due soon is the old stream's first message: copied by the
	// run killed at copy:1500, it fires in the retired stream before the
	// next run, which copies its job too; the copy is then dropped.
	d := newLegacyDeploymentSoon(t, n, far, true, 10*time.Second)
	soonSubject := testenv.Topo.RetrySubject("bravo", "99999")
	soonHeld := false
	topo := schemas.Topology{Prefix: testenv.Prefix}
	for _, point := range []string{"holding", "retired", "copy:1500", "copy:3000", "copied", "deleted", "created",
		"republish:1000", "republish:2900", "reschedule:100", "finishing"} {
		p := testenv.StartProcessEnv(t, bin, []string{"DISPATCHER_TEST_MIGRATE_CRASH=" + point},
			"streams", "migrate-jobs", "--yes", "--nats-url", d.b.URL)
		if code := p.Wait(t, 60*time.Second); code != -1 {
			t.Fatalf("killed at %s: exit %d, want killed\n%s\n%s", point, code, p.Stdout(), p.Stderr())
		}
		d.checkNothingLost(t, "killed at "+point)
		d.logStreams(t, "killed at "+point)
		if point == "copy:1500" {
			soonHeld = len(storedMsgsOn(t, d.b.JS, holdingStream, testenv.Topo.HeldSubject(1, soonSubject))) == 1
			testenv.Eventually(t, 30*time.Second, func() (bool, string) {
				return len(storedMsgsOn(t, d.b.JS, testenv.JobsStream, soonSubject)) == 0, "the copy due soon has not fired"
			})
			t.Logf("the copy due soon fired after it was held: %v", soonHeld)
		}
		if point == "retired" {
			// Publishers are refused, and no service can start.
			if err := publishErr(d.b.JS, testenv.JobMsg("alpha", schemas.Job{ID: "late"}).NATSMsg()); err == nil {
				t.Errorf("a publish to the retired jobs stream went through")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := dispatcher.EnsureStreams(ctx, d.b.JS, topo, dispatcher.StreamSettings{})
			cancel()
			if err == nil {
				t.Errorf("the service's EnsureStreams succeeded on the retired jobs stream")
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	out := migrateJSON(t, d.b.URL, 0, "--yes")
	t.Logf("the last run: %v", out)
	if fired := num(out, "report", "counts", "retry_copies_fired"); soonHeld && fired != 1 {
		t.Errorf("%v retry copies dropped as fired, want 1", fired)
	}
	if out["stage"] != "republishing" || out["migrated"] != true {
		t.Errorf("the last run: %v", out)
	}
	d.checkMigrated(t)
}
