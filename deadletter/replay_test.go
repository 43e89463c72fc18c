package deadletter_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

// jobsOn returns the messages stored on subject of the jobs stream.
func (s *streams) jobsOn(t testing.TB, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := s.jobs.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

func (s *streams) selectAll(t testing.TB, f deadletter.Filter) *deadletter.Selection {
	t.Helper()
	sel, err := s.store.Select(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestReplay(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var events []deadletter.ReplayEvent
	rep, err := s.store.Replay(ctx, s.selectAll(t, deadletter.Filter{Targets: []string{"alpha"}}), deadletter.ReplaySettings{},
		func(ev deadletter.ReplayEvent) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	if rep != (deadletter.ReplayReport{Replayed: 3}) {
		t.Errorf("report %+v, want 3 replayed", rep)
	}
	if len(events) != 3 {
		t.Fatalf("%d events, want 3", len(events))
	}
	jobs := s.jobsOn(t, "dispatch.jobs.alpha")
	if len(jobs) != 3 {
		t.Fatalf("%d jobs on dispatch.jobs.alpha, want 3", len(jobs))
	}
	var ids []string
	for _, m := range jobs {
		job, err := schemas.DecodeJob(m.Data)
		if err != nil {
			t.Fatalf("replayed job: %v", err)
		}
		ids = append(ids, job.ID)
		of := m.Header.Get(schemas.HeaderReplayOf)
		seq, _ := strconv.ParseUint(of, 10, 64)
		if seq == 0 || m.Header.Get(jetstream.MsgIDHeader) != deadletter.ReplayMsgID(seq) {
			t.Errorf("job %s: Dispatch-Replay-Of %q, Nats-Msg-Id %q", job.ID, of, m.Header.Get(jetstream.MsgIDHeader))
		}
		for _, h := range []string{schemas.HeaderAttempts, schemas.HeaderFirstAttemptAt, schemas.HeaderHistory} {
			if m.Header.Get(h) != "" {
				t.Errorf("job %s carries retry state %s", job.ID, h)
			}
		}
		if tp := m.Header.Get("Traceparent"); tp == "" || tp[3:35] != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("job %s: traceparent %q does not carry the dead letter's trace id", job.ID, tp)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"a1", "a2", "a3"}) {
		t.Errorf("replayed ids %v", ids)
	}
	if got := s.list(t, deadletter.Filter{}); !slices.Equal(got, []uint64{4, 5, 6, 7}) {
		t.Errorf("records left %v, want the others", got)
	}
}

func TestReplayDryRun(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	before := s.state(t)
	var skipped []uint64
	rep, err := s.store.Replay(context.Background(), s.selectAll(t, deadletter.Filter{}), deadletter.ReplaySettings{DryRun: true},
		func(ev deadletter.ReplayEvent) {
			if ev.Outcome == deadletter.Skipped {
				skipped = append(skipped, ev.Seq)
				if !errors.Is(ev.Err, deadletter.ErrNotReplayable) {
					t.Errorf("seq %d skipped with %v, want ErrNotReplayable", ev.Seq, ev.Err)
				}
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if rep != (deadletter.ReplayReport{WouldReplay: 6, Skipped: 1}) || !slices.Equal(skipped, []uint64{6}) {
		t.Errorf("report %+v, skipped %v; want 6 would replay and the undecodable 6 skipped", rep, skipped)
	}
	if after := s.state(t); after.Msgs != before.Msgs || after.LastSeq != before.LastSeq {
		t.Errorf("dry run changed the dead letters: %+v -> %+v", before, after)
	}
	if n := len(s.jobsOn(t, "dispatch.jobs.>")); n != 0 {
		t.Errorf("dry run published %d jobs", n)
	}
}

func TestReplayDropsRedactedHeaders(t *testing.T) {
	s := newStreams(t)
	rec := deadLetter("alpha", "r1", schemas.ReasonNonRetryable, "http_4xx", 401)
	rec.Job = json.RawMessage(`{"id":"r1","target":"alpha","headers":{"Authorization":"[REDACTED]","X-Tenant":"acme"},"body":{"a":1},"trace_id":"0af7651916cd43dd8448eb211c80319c"}`)
	s.put(t, rec)
	var ev deadletter.ReplayEvent
	rep, err := s.store.Replay(context.Background(), s.selectAll(t, deadletter.Filter{}), deadletter.ReplaySettings{},
		func(e deadletter.ReplayEvent) { ev = e })
	if err != nil || rep.Replayed != 1 || rep.Dropped != 1 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if !slices.Equal(ev.Dropped, []string{"Authorization"}) {
		t.Errorf("dropped %v", ev.Dropped)
	}
	jobs := s.jobsOn(t, "dispatch.jobs.alpha")
	job, err := schemas.DecodeJob(jobs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := job.Headers["Authorization"]; ok || job.Headers["X-Tenant"] != "acme" || string(job.Body) != `{"a":1}` {
		t.Errorf("replayed job %s", jobs[0].Data)
	}
	if jobs[0].Header.Get("Traceparent") != "" {
		t.Errorf("a job with its own trace_id got a traceparent header")
	}
}

func TestReplayNotReplayable(t *testing.T) {
	s := newStreams(t)
	cut := deadLetter("alpha", "big", schemas.ReasonExhausted, "http_5xx", 503)
	cut.Job = json.RawMessage(`{"id":"big","target":"alpha"}`)
	cut.Error += " [job body (2000000 bytes) dropped to fit the NATS max payload]"
	other := deadLetter("alpha", "x", schemas.ReasonExhausted, "http_5xx", 503)
	other.Job = json.RawMessage(`{"id":"x","target":"bravo"}`)
	s.put(t, cut, other)
	rep, err := s.store.Replay(context.Background(), s.selectAll(t, deadletter.Filter{}), deadletter.ReplaySettings{}, nil)
	if err != nil || rep != (deadletter.ReplayReport{Skipped: 2}) {
		t.Errorf("report %+v, %v; want both skipped", rep, err)
	}
	if n := len(s.list(t, deadletter.Filter{})); n != 2 {
		t.Errorf("%d records left, want both kept", n)
	}
}

// TestReplayRefusesCutRecords: a record that lost anything to fit the max
// payload holds a job that is not the job as sent; replay, dry run
// included, skips it naming what was cut, and keeps it. Records of earlier
// versions, marked "job-body" or in the error text, are refused too.
func TestReplayRefusesCutRecords(t *testing.T) {
	s := newStreamsMax(t, 32<<10)
	big := func(n int) string { return `"` + strings.Repeat("x", n) + `"` }
	meta := deadLetter("alpha", "cut-meta", schemas.ReasonExhausted, "http_5xx", 503)
	meta.Job = json.RawMessage(`{"id":"cut-meta","body":{"a":1},"meta":` + big(40_000) + `}`)
	all := deadLetter("alpha", "cut-all", schemas.ReasonExhausted, "http_5xx", 503)
	all.Job = json.RawMessage(`{"id":"cut-all","meta":` + big(10_000) + `,"headers":{"X-A":` + big(10_000) + `},"body":` + big(35_000) + `}`)
	s.put(t, meta, all) // the Writer cuts them
	legacy := deadLetter("alpha", "old", schemas.ReasonExhausted, "http_5xx", 503)
	legacy.Job = json.RawMessage(`{"id":"old"}`)
	legacy.Error += " [job body (2000000 bytes) dropped to fit the NATS max payload]"
	s.putAsync(t, legacy)
	ok := deadLetter("alpha", "whole", schemas.ReasonExhausted, "http_5xx", 503)
	s.put(t, ok)

	want := map[string]string{"cut-meta": "(lost: meta)", "cut-all": "(lost: meta, headers, body)", "old": "(lost: body)"}
	for _, dry := range []bool{true, false} {
		skipped := map[string]string{}
		rep, err := s.store.Replay(context.Background(), s.selectAll(t, deadletter.Filter{}), deadletter.ReplaySettings{DryRun: dry},
			func(ev deadletter.ReplayEvent) {
				if ev.Outcome == deadletter.Skipped {
					skipped[ev.JobID] = errText(ev.Err)
					if !errors.Is(ev.Err, deadletter.ErrNotReplayable) {
						t.Errorf("%s skipped with %v, want ErrNotReplayable", ev.JobID, ev.Err)
					}
				}
			})
		if err != nil || rep.Skipped != 3 || rep.WouldReplay+rep.Replayed != 1 {
			t.Errorf("dry run %v: report %+v, %v; want 3 skipped, the whole one replayed", dry, rep, err)
		}
		for id, mark := range want {
			if !strings.Contains(skipped[id], mark) {
				t.Errorf("dry run %v: %s skipped with %q, want it to name %q", dry, id, skipped[id], mark)
			}
		}
	}
	if n := len(s.list(t, deadletter.Filter{})); n != 3 {
		t.Errorf("%d records left, want the 3 cut ones kept", n)
	}
	if jobs := s.jobsOn(t, "dispatch.jobs.>"); len(jobs) != 1 {
		t.Errorf("%d jobs published, want only the whole one", len(jobs))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestReplayInterrupted cancels a replay half-way, then reruns it: every dead
// letter is replayed exactly once, none is lost.
func TestReplayInterrupted(t *testing.T) {
	const n = 200
	s := newStreams(t)
	var recs []*schemas.DeadLetter
	for i := range n {
		recs = append(recs, deadLetter("alpha", "job-"+strconv.Itoa(i), schemas.ReasonExhausted, "http_5xx", 503))
	}
	s.putAsync(t, recs...)

	// A crash between a re-publish and its delete, by hand: the job of
	// record 7 is in the jobs stream and the record is still there.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r7, err := s.store.Get(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := s.store.ReplayMessage(r7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}

	// First run: cancelled after 60 records.
	runCtx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	seen := 0
	rep1, err := s.store.Replay(runCtx, s.selectAll(t, deadletter.Filter{}), deadletter.ReplaySettings{Concurrency: 4},
		func(deadletter.ReplayEvent) {
			mu.Lock()
			defer mu.Unlock()
			if seen++; seen == 60 {
				stop()
			}
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want context.Canceled", err)
	}
	left := len(s.list(t, deadletter.Filter{}))
	if left == 0 || left == n {
		t.Fatalf("first run left %d of %d records; want it stopped half-way", left, n)
	}

	// Rerun: finishes the rest.
	rep2, err := s.store.Replay(ctx, s.selectAll(t, deadletter.Filter{}), deadletter.ReplaySettings{Concurrency: 4}, nil)
	if err != nil || rep2.Failed != 0 {
		t.Fatalf("rerun: %+v, %v", rep2, err)
	}
	if rep1.Replayed+rep2.Replayed != n {
		t.Errorf("replayed %d + %d, want %d in all", rep1.Replayed, rep2.Replayed, n)
	}
	if left := len(s.list(t, deadletter.Filter{})); left != 0 {
		t.Errorf("%d records left after the rerun", left)
	}
	counts := map[string]int{}
	for _, m := range s.jobsOn(t, "dispatch.jobs.alpha") {
		job, err := schemas.DecodeJob(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		counts[job.ID]++
	}
	if len(counts) != n {
		t.Errorf("%d distinct jobs in the jobs stream, want %d", len(counts), n)
	}
	for id, c := range counts {
		if c != 1 {
			t.Errorf("job %s published %d times", id, c)
		}
	}
	if rep1.AlreadyReplayed+rep2.AlreadyReplayed != 1 {
		t.Errorf("already replayed %d + %d, want the one re-published by hand", rep1.AlreadyReplayed, rep2.AlreadyReplayed)
	}
}

func TestReplayRate(t *testing.T) {
	s := newStreams(t)
	var recs []*schemas.DeadLetter
	for i := range 6 {
		recs = append(recs, deadLetter("alpha", "j"+strconv.Itoa(i), schemas.ReasonExhausted, "http_5xx", 503))
	}
	s.put(t, recs...)
	start := time.Now()
	rep, err := s.store.Replay(context.Background(), s.selectAll(t, deadletter.Filter{}), deadletter.ReplaySettings{Rate: 20}, nil)
	if err != nil || rep.Replayed != 6 {
		t.Fatalf("%+v %v", rep, err)
	}
	// 6 at 20/s: the first at once, then one every 50ms.
	if took := time.Since(start); took < 240*time.Millisecond {
		t.Errorf("6 replays at 20/s took %v, want at least 250ms", took)
	}
}

func TestReplayGone(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	sel := s.selectAll(t, deadletter.Filter{Targets: []string{"alpha"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.dlq.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	rep, err := s.store.Replay(ctx, sel, deadletter.ReplaySettings{}, nil)
	if err != nil || rep != (deadletter.ReplayReport{Replayed: 2, Skipped: 1}) {
		t.Errorf("%+v %v; want 2 replayed, the deleted one skipped", rep, err)
	}
}
