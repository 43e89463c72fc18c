package tests

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// dlqWorld runs the service with targets alpha and bravo that answer 400,
// and dead-letters 3 jobs on alpha and 2 on bravo.
type dlqWorld struct {
	b            *testenv.Broker
	alpha, bravo *testenv.Sink
}

func newDLQWorld(t *testing.T) *dlqWorld {
	t.Helper()
	w := &dlqWorld{b: testenv.NewBroker(t), alpha: testenv.NewSink(t), bravo: testenv.NewSink(t)}
	w.alpha.SetBehaviour(testenv.Status(400))
	w.bravo.SetBehaviour(testenv.Status(400))
	testenv.RunService(t, w.b.Config(testenv.Targets(testenv.M{"alpha": testenv.Target(w.alpha.URL), "bravo": testenv.Target(w.bravo.URL)})))
	for i := 1; i <= 3; i++ {
		w.b.Publish(t, testenv.JobMsg("alpha", schemas.Job{ID: fmt.Sprintf("al-%d", i), Path: "/a",
			Headers: map[string]string{"Authorization": "Bearer secret", "X-Tenant": "acme"}}))
	}
	for i := 1; i <= 2; i++ {
		w.b.Publish(t, testenv.JobMsg("bravo", schemas.Job{ID: fmt.Sprintf("br-%d", i), Path: "/b"}))
	}
	testenv.WaitDeadLetters(t, w.b.JS, "alpha", 3, 20*time.Second)
	testenv.WaitDeadLetters(t, w.b.JS, "bravo", 2, 20*time.Second)
	return w
}

func (w *dlqWorld) cli(t *testing.T, env []string, args ...string) testenv.CLIResult {
	t.Helper()
	return testenv.RunCLI(t, nil, env, append(args, "--nats-url", w.b.URL)...)
}

// lsJSON is `dlq ls --json ARGS`, decoded.
func (w *dlqWorld) lsJSON(t *testing.T, args ...string) []struct {
	Seq    uint64
	Time   time.Time
	Record schemas.DeadLetter
} {
	t.Helper()
	r := w.cli(t, nil, append([]string{"dlq", "ls", "--json"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r)
	}
	var out []struct {
		Seq    uint64
		Time   time.Time
		Record schemas.DeadLetter
	}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		var o struct {
			Seq    uint64
			Time   time.Time
			Record schemas.DeadLetter
		}
		if err := json.Unmarshal([]byte(line), &o); err != nil || o.Seq == 0 || o.Time.IsZero() {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, o)
	}
	return out
}

// TestCLIDLQList lists and shows dead letters made by the running service.
func TestCLIDLQList(t *testing.T) {
	t.Parallel()
	w := newDLQWorld(t)

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"all", nil, 5},
		{"target", []string{"--target", "alpha"}, 3},
		{"targets", []string{"--target", "alpha,bravo"}, 5},
		{"reason", []string{"--reason", "non_retryable"}, 5},
		{"class and status", []string{"--class", "http_4xx", "--status", "4xx"}, 5},
		{"other status", []string{"--status", "5xx"}, 0},
		{"job id", []string{"--job-id", "br-2"}, 1},
		{"since", []string{"--since", "1h"}, 5},
		{"until", []string{"--until", "1h"}, 0},
		{"limit", []string{"--limit", "2"}, 2},
	}
	before := testenv.CountMsgs(t, w.b.JS, testenv.DLQStream, "dispatch.dlq.>")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.lsJSON(t, tt.args...); len(got) != tt.want {
				t.Errorf("%d records, want %d", len(got), tt.want)
			}
		})
	}
	if after := testenv.CountMsgs(t, w.b.JS, testenv.DLQStream, "dispatch.dlq.>"); after != before {
		t.Errorf("listing changed the stream: %d records, then %d", before, after)
	}

	recs := w.lsJSON(t, "--target", "alpha")
	if recs[0].Record.Reason != "non_retryable" || recs[0].Record.Target != "alpha" || recs[0].Record.LastStatus != 400 {
		t.Errorf("record %+v", recs[0].Record)
	}

	// The table: its columns, both targets, and each line cut to $COLUMNS.
	r := w.cli(t, []string{"COLUMNS=100"}, "dlq", "ls")
	if r.Code != 0 || !strings.Contains(r.Stdout, "alpha") || !strings.Contains(r.Stdout, "bravo") {
		t.Fatalf("table\n%s", r)
	}
	head := strings.SplitN(r.Stdout, "\n", 2)[0]
	for _, col := range []string{"SEQ", "TIME", "TARGET", "REASON", "CLASS", "STATUS", "ATTEMPTS", "JOB ID", "ERROR"} {
		if !strings.Contains(head, col) {
			t.Errorf("header %q lacks %s", head, col)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("line of %d runes with COLUMNS=100: %q", n, line)
		}
	}
	r = w.cli(t, []string{"COLUMNS=0"}, "dlq", "ls", "--target", "alpha")
	if !strings.Contains(r.Stdout, "JOB ID") || !strings.Contains(r.Stdout, "al-1") || !strings.Contains(r.Stdout, "400 Bad Request") {
		t.Errorf("uncut table lacks a column\n%s", r)
	}
	if r = w.cli(t, nil, "dlq", "ls", "--target", "nobody"); r.Code != 0 || !strings.Contains(r.Stderr, "no dead letters") {
		t.Errorf("empty listing\n%s", r)
	}

	// show: person and script views, and the errors.
	seq := fmt.Sprint(recs[1].Seq)
	var job schemas.Job
	if err := json.Unmarshal(recs[1].Record.Job, &job); err != nil {
		t.Fatal(err)
	}
	r = w.cli(t, nil, "dlq", "show", seq)
	for _, want := range []string{"Dead letter " + seq, "non_retryable", "job id:        " + job.ID, "History", "[REDACTED]", "dlq replay --seq " + seq} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("show lacks %q\n%s", want, r)
		}
	}
	r = w.cli(t, nil, "dlq", "show", seq, "--json")
	var dl schemas.DeadLetter
	if err := json.Unmarshal([]byte(r.Stdout), &dl); err != nil || dl.Target != "alpha" || len(dl.History) != 1 {
		t.Errorf("show --json: %v\n%s", err, r)
	}
	if r = w.cli(t, nil, "dlq", "show", "99999"); r.Code != 1 || !strings.Contains(r.Stderr, "no such dead letter") {
		t.Errorf("show of a missing seq\n%s", r)
	}
	if r = w.cli(t, nil, "dlq", "show", "abc"); r.Code != 2 {
		t.Errorf("show abc\n%s", r)
	}
	for _, args := range [][]string{{"--reason", "bogus"}, {"--status", "7xx"}, {"--since", "yesterday"}, {"--target", "a.b"}} {
		if r = w.cli(t, nil, append([]string{"dlq", "ls"}, args...)...); r.Code != 2 {
			t.Errorf("dlq ls %v: exit %d, want 2\n%s", args, r.Code, r)
		}
	}
}

// TestCLIDLQReplay replays alpha's dead letters into the running service:
// a dry run changes nothing; a replay re-delivers the jobs with their
// Idempotency-Key, without the redacted header, and removes the records.
func TestCLIDLQReplay(t *testing.T) {
	t.Parallel()
	w := newDLQWorld(t)
	if r := w.cli(t, nil, "dlq", "replay"); r.Code != 2 || !strings.Contains(r.Stderr, "needs a selector") {
		t.Errorf("replay without a selector\n%s", r)
	}
	if r := w.cli(t, nil, "dlq", "replay", "--all", "--target", "alpha"); r.Code != 2 {
		t.Errorf("replay --all with a filter\n%s", r)
	}
	r := w.cli(t, nil, "dlq", "replay", "--target", "alpha", "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, "would replay 3 of 3") || !strings.Contains(r.Stdout, "without redacted header Authorization") {
		t.Fatalf("dry run\n%s", r)
	}
	if n := len(w.lsJSON(t, "--target", "alpha")); n != 3 {
		t.Fatalf("dry run: %d alpha records, want 3", n)
	}
	callsBefore := w.alpha.Count()

	w.alpha.SetBehaviour(testenv.OK())
	r = w.cli(t, nil, "dlq", "replay", "--target", "alpha")
	if r.Code != 0 || !strings.Contains(r.Stdout, "replayed 3, failed 0, skipped 0") {
		t.Fatalf("replay\n%s", r)
	}
	if !strings.Contains(r.Stderr, "replayed without header Authorization") {
		t.Errorf("replay does not say it left the redacted header out\n%s", r)
	}
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		ok := len(w.alpha.Answered(200))
		return ok == 3, fmt.Sprintf("%d of 3 replayed jobs delivered", ok)
	})
	for key, calls := range w.alpha.ByKey() {
		last := calls[len(calls)-1]
		if !strings.HasPrefix(key, "al-") || len(calls) != 2 {
			t.Errorf("key %s: %d calls, want the first and the replay", key, len(calls))
		}
		if got := last.Header.Get("Authorization"); got == "[REDACTED]" {
			t.Errorf("key %s: replay sent the redacted value", key)
		}
		if last.Header.Get("X-Tenant") != "acme" {
			t.Errorf("key %s: replay lost X-Tenant", key)
		}
	}
	if w.alpha.Count() != callsBefore+3 {
		t.Errorf("alpha got %d calls after the replay, want 3", w.alpha.Count()-callsBefore)
	}
	if n := len(w.lsJSON(t, "--target", "alpha")); n != 0 {
		t.Errorf("%d alpha dead letters after the replay, want 0", n)
	}
	if n := len(w.lsJSON(t, "--target", "bravo")); n != 2 {
		t.Errorf("%d bravo dead letters after replaying alpha, want 2", n)
	}

	// --seq and --json.
	bravo := w.lsJSON(t, "--target", "bravo")
	r = w.cli(t, nil, "dlq", "replay", "--seq", fmt.Sprint(bravo[0].Seq), "--json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"outcome":"replayed"`) || !strings.Contains(r.Stdout, `"replayed":1`) {
		t.Errorf("replay --seq --json\n%s", r)
	}
}

// TestCLIDLQPurge: without --yes and without a terminal purge refuses with
// status 2 and deletes nothing; with --yes it deletes the selected records.
func TestCLIDLQPurge(t *testing.T) {
	t.Parallel()
	w := newDLQWorld(t)
	r := w.cli(t, nil, "dlq", "purge", "--target", "bravo")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
		t.Errorf("purge without --yes: want exit 2 naming --yes\n%s", r)
	}
	if n := len(w.lsJSON(t, "--target", "bravo")); n != 2 {
		t.Fatalf("purge without --yes deleted records: %d left", n)
	}
	if r = w.cli(t, nil, "dlq", "purge", "--yes"); r.Code != 2 {
		t.Errorf("purge without a selector\n%s", r)
	}
	r = w.cli(t, nil, "dlq", "purge", "--target", "bravo", "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, "would delete 2 dead letters") {
		t.Errorf("purge --dry-run\n%s", r)
	}
	alpha := w.lsJSON(t, "--target", "alpha")
	r = w.cli(t, nil, "dlq", "purge", "--target", "bravo", "--yes")
	if r.Code != 0 || !strings.Contains(r.Stdout, "deleted 2 of 2 dead letters") {
		t.Fatalf("purge --yes\n%s", r)
	}
	if n := len(w.lsJSON(t, "--target", "bravo")); n != 0 {
		t.Errorf("%d bravo records left", n)
	}
	r = w.cli(t, nil, "dlq", "purge", "--seq", fmt.Sprint(alpha[0].Seq), "-y", "--json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"deleted":1`) {
		t.Errorf("purge --seq\n%s", r)
	}
	if n := len(w.lsJSON(t, "--target", "alpha")); n != 2 {
		t.Errorf("%d alpha records left, want 2", n)
	}
}
