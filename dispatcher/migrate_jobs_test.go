package dispatcher

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// TestMigrationClassify: what becomes of each message of an old jobs
// stream, by the subject it is stored on.
func TestMigrationClassify(t *testing.T) {
	m := &JobsMigration{topo: schemas.Topology{Prefix: "acme.dispatch"}}
	for _, c := range []struct {
		name, subject string
		kind          heldKind
		target, dest  string
	}{
		{"stored before the transform", "acme.dispatch.jobs.payments", heldJob, "payments", "acme.dispatch.jobs.payments"},
		{"partitioned", "acme.dispatch.part.5.payments", heldPartitioned, "payments", "acme.dispatch.jobs.payments"},
		{"multi-token", "acme.dispatch.jobs.evil.t1", heldMultiToken, "", "acme.dispatch.jobs.evil.t1"},
		{"retry copy", "acme.dispatch.retry.payments.42", heldRetry, "payments", ""},
		{"retry subject of no target", "acme.dispatch.retry.x", heldOther, "", "acme.dispatch.jobs.x"},
		{"retry subject of an invalid target", "acme.dispatch.retry.a.b.7", heldOther, "", "acme.dispatch.jobs.a.b.7"},
		{"fired copy of the scheduling stream", "acme.dispatch.duepart.1.payments", heldOther, "", "acme.dispatch.duepart.1.payments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			kind, target, dest := m.classify(c.subject)
			if kind != c.kind || target != c.target || dest != c.dest {
				t.Errorf("classify(%q) = %d, %q, %q; want %d, %q, %q", c.subject, kind, target, dest, c.kind, c.target, c.dest)
			}
		})
	}
}

// TestHeldMsg: the holding stream's copy keeps the job's headers, none of
// NATS's (they would act on the holding stream) but the ones that matter
// under its own names, drops a publisher's Dispatch-Held-*, and leaves the
// job's message id out rather than not fit the max payload.
func TestHeldMsg(t *testing.T) {
	m := &JobsMigration{topo: schemas.Topology{Prefix: "dispatch"}}
	stored := &jetstream.RawStreamMsg{Subject: "dispatch.retry.payments.6", Sequence: 9, Data: []byte(`{"id":"j1"}`), Header: nats.Header{
		"Nats-Msg-Id": {"j1"}, "Nats-Schedule": {"@at 2030-01-02T03:04:05Z"}, "Nats-Schedule-Target": {"dispatch.jobs.payments"},
		"Nats-Rollup": {"sub"}, "Nats-Expected-Last-Sequence": {"3"}, "Dispatch-Attempts": {"2"}, "X-Trace": {"t"},
		"Dispatch-Held-Msg-Id": {"forged"},
	}}
	held, err := m.heldMsg(stored, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := nats.Header{"Dispatch-Held-Msg-Id": {"j1"}, "Dispatch-Held-Schedule": {"@at 2030-01-02T03:04:05Z"},
		"Dispatch-Attempts": {"2"}, "X-Trace": {"t"}}
	if held.Subject != "dispatch.migrating.held.9.dispatch.retry.payments.6" || string(held.Data) != `{"id":"j1"}` || len(held.Header) != len(want) {
		t.Fatalf("held: %s %q %v", held.Subject, held.Data, held.Header)
	}
	for k, vs := range want {
		if got := held.Header.Values(k); len(got) != 1 || got[0] != vs[0] {
			t.Errorf("held header %s = %v, want %v", k, got, vs)
		}
	}

	// A job at the max payload: its copy fits without the id.
	job := &jetstream.RawStreamMsg{Subject: "dispatch.jobs.payments", Sequence: 10, Header: nats.Header{"Nats-Msg-Id": {"j2"}}}
	orig := nats.NewMsg(job.Subject)
	orig.Header = job.Header
	job.Data = []byte(strings.Repeat("x", 1000-msgSize(orig)))
	orig.Data = job.Data
	if msgSize(orig) != 1000 {
		t.Fatalf("the job is %d bytes", msgSize(orig))
	}
	held, err = m.heldMsg(job, 1000)
	if err != nil || held.Header.Get(heldMsgIDHeader) != "" || msgSize(held) > 1000 {
		t.Errorf("held at the max payload: %v, %v (%d bytes)", held.Header, err, msgSize(held))
	}
	if _, err := m.heldMsg(job, 900); err == nil {
		t.Error("a message larger than the max payload was held")
	}
}

// TestScheduledAt reads the @at schedules the versions before the
// scheduling stream wrote, and nothing else.
func TestScheduledAt(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	if got, ok := scheduledAt("@at " + at.Format(time.RFC3339Nano)); !ok || !got.Equal(at) {
		t.Errorf("scheduledAt = %v, %v", got, ok)
	}
	for _, v := range []string{"", "@every 1m", "@at tomorrow", "0 * * * * *"} {
		if _, ok := scheduledAt(v); ok {
			t.Errorf("scheduledAt(%q) ok", v)
		}
	}
}

// TestMigrationStageNames: --json shows the stages by name.
func TestMigrationStageNames(t *testing.T) {
	for s, want := range map[MigrationStage]string{MigrationNotNeeded: "not_needed", MigrationPending: "pending",
		MigrationCopying: "copying", MigrationRecreating: "recreating", MigrationRepublishing: "republishing", 9: "stage(9)"} {
		if s.String() != want {
			t.Errorf("%d: %s, want %s", int(s), s, want)
		}
	}
}
