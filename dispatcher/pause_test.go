package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// TestPauseAndResume: Pause stores the target's record and an audit
// record; Resume deletes it and says what was paused; bad arguments are
// refused with ErrInvalidPause and store nothing; every audit record
// validates against audit.v1.schema.json.
func TestPauseAndResume(t *testing.T) {
	_, js := connect(t, startNATS(t))
	ctx := context.Background()
	now := time.Now()

	for _, c := range []struct {
		name, target, who, reason string
		until                     time.Time
	}{
		{"bad target", "a.b", "tester", "", time.Time{}},
		{"empty target", "", "tester", "", time.Time{}},
		{"no who", "a", "", "", time.Time{}},
		{"end passed", "a", "tester", "", now.Add(-time.Second)},
		{"reason too long", "a", "tester", strings.Repeat("x", maxPauseReason+1), time.Time{}},
	} {
		if _, err := Pause(ctx, js, testTopo, c.target, c.until, c.who, c.reason); !errors.Is(err, ErrInvalidPause) {
			t.Errorf("%s: Pause = %v, want ErrInvalidPause", c.name, err)
		}
	}
	if _, err := Resume(ctx, js, testTopo, "a.b", "tester"); !errors.Is(err, ErrInvalidPause) {
		t.Errorf("Resume of a bad target = %v, want ErrInvalidPause", err)
	}
	if ps, err := ReadPauses(ctx, js, testTopo, now); err != nil || len(ps) != 0 {
		t.Fatalf("ReadPauses before any pause = %v, %v; want none", ps, err)
	}

	until := now.Add(time.Hour)
	if _, err := Pause(ctx, js, testTopo, "a", until, "tester", "maintenance \x1b[31m"); err != nil {
		t.Fatal(err)
	}
	if _, err := Pause(ctx, js, testTopo, "b", time.Time{}, "tester", ""); err != nil {
		t.Fatal(err)
	}
	ps, err := ReadPauses(ctx, js, testTopo, time.Now())
	if err != nil || len(ps) != 2 || ps[0].Target != "a" || ps[0].Until == nil || !ps[0].Until.Equal(until.UTC()) ||
		ps[1].Target != "b" || ps[1].Until != nil || ps[0].By != "tester" || ps[0].Reason != "maintenance \x1b[31m" {
		t.Fatalf("ReadPauses = %+v, %v", ps, err)
	}
	if ps, _ := ReadPauses(ctx, js, testTopo, until.Add(time.Second)); len(ps) != 1 || ps[0].Target != "b" {
		t.Errorf("ReadPauses after a's end = %+v, want b's alone", ps)
	}
	was, err := Resume(ctx, js, testTopo, "a", "tester")
	if err != nil || was == nil || was.Target != "a" {
		t.Fatalf("Resume(a) = %+v, %v; want a's pause", was, err)
	}
	if was, err := Resume(ctx, js, testTopo, "a", "tester"); err != nil || was != nil {
		t.Fatalf("Resume(a) again = %+v, %v; want none", was, err)
	}

	entries, err := audit.List(ctx, js, testTopo, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		data, _ := json.Marshal(e.Record)
		if err := schemas.Validate(schemas.AuditSchema, data); err != nil {
			t.Errorf("audit record %d: %v\n%s", e.Seq, err, data)
		}
		got = append(got, e.Record.Action+" "+e.Record.Selection.Target+" "+e.Record.Result+" "+string(rune('0'+e.Record.Count)))
	}
	want := []string{"pause a ok 1", "pause b ok 1", "resume a ok 1", "resume a ok 0"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit records %q, want %q", got, want)
	}
	if only, _ := audit.List(ctx, js, testTopo, audit.Filter{Actions: []string{schemas.AuditResume}, Limit: 1}); len(only) != 1 || only[0].Record.Count != 0 {
		t.Errorf("the last resume alone: %+v", only)
	}
}

// TestFleetObeysPauses: every instance pauses its worker of a target
// paused in the bucket, and resumes it when the key is deleted; a pause
// with an end resumes by itself; an instance that starts while a target
// is paused has it paused before start returns.
func TestFleetObeysPauses(t *testing.T) {
	url := startNATS(t)
	a := newTestMember(t, url, "a", worker.Target{Name: "p"}, worker.Target{Name: "q"})
	b := newTestMember(t, url, "b", worker.Target{Name: "p"})
	a.run(t)
	b.run(t)
	ctx := context.Background()
	paused := func(m *testMember, target string) bool { _, on := m.workers[target].Paused(); return on }

	if _, err := Pause(ctx, a.js, testTopo, "p", time.Time{}, "tester", "maintenance"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "p paused on both", func() bool { return paused(a, "p") && paused(b, "p") })
	// The health verdicts hear of it (Pauser).
	if until, why, ok := b.Paused("p"); !ok || !until.IsZero() || why != "paused by tester until resumed: maintenance" {
		t.Errorf("Paused(p) = %v, %q, %v", until, why, ok)
	}
	if _, _, ok := b.Paused("q"); ok {
		t.Error("Paused(q): q is not paused")
	}
	if paused(a, "q") {
		t.Error("q paused with p")
	}
	late := newTestMember(t, url, "late", worker.Target{Name: "p"})
	late.run(t)
	if !paused(late, "p") {
		t.Error("an instance started while p is paused does not have it paused")
	}
	if _, err := Resume(ctx, a.js, testTopo, "p", "tester"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "p resumed everywhere", func() bool {
		return !paused(a, "p") && !paused(b, "p") && !paused(late, "p")
	})

	if _, err := Pause(ctx, a.js, testTopo, "q", time.Now().Add(400*time.Millisecond), "tester", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "q paused", func() bool { return paused(a, "q") })
	waitFor(t, 5*time.Second, "q resumed by itself", func() bool { return !paused(a, "q") })
}
