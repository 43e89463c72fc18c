package tests

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestCLIPauseResumeAudit runs pause, resume, dlq purge and dlq replay
// against a server no service runs on: pause and resume write the pauses
// bucket, lag shows the pause apart from any hold, and every action is in
// the audit stream, each record valid against audit.v1.schema.json, which
// audit ls lists (escaping what operators wrote) and filters.
func TestCLIPauseResumeAudit(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	testenv.EnsureStreams(t, b.JS)
	run := func(args ...string) testenv.CLIResult {
		return testenv.RunCLI(t, nil, nil, append(args, "--nats-url", b.URL)...)
	}
	for _, bad := range [][]string{{"pause", "a.b"}, {"pause", "alpha", "--for", "-1s"}, {"resume", "al pha"}, {"pause"},
		{"audit", "ls", "--action", "bogus"}, {"audit", "ls", "--since", "yesterday"}} {
		if r := run(bad...); r.Code != 2 {
			t.Errorf("want exit status 2:\n%s", r)
		}
	}

	r := run("pause", "alpha", "--for", "1h", "--reason", "maintenance \x1b[31mred")
	if r.Code != 0 || !strings.Contains(r.Stdout, "paused alpha until") || !strings.Contains(r.Stdout, "no live instance serves alpha") {
		t.Fatalf("pause:\n%s", r)
	}
	if r := run("pause", "beta", "--json"); r.Code != 0 || !strings.Contains(r.Stdout, `"target":"beta"`) || !strings.Contains(r.Stdout, `"served_by":0`) {
		t.Fatalf("pause --json:\n%s", r)
	}

	r = run("lag", "--json")
	var lag dispatcher.Lag
	if err := json.Unmarshal([]byte(r.Stdout), &lag); r.Code != 0 || err != nil {
		t.Fatalf("lag --json: %v\n%s", err, r)
	}
	byTarget := map[string]dispatcher.TargetLag{}
	for _, tl := range lag.Targets {
		byTarget[tl.Target] = tl
	}
	if a := byTarget["alpha"]; !a.Paused || a.PausedUntil == nil || !strings.HasPrefix(a.PausedBy, "cli:") || a.PausedReason != "maintenance \x1b[31mred" {
		t.Errorf("lag --json alpha = %+v, want paused for an hour by cli:…", a)
	}
	if bt := byTarget["beta"]; !bt.Paused || bt.PausedUntil != nil {
		t.Errorf("lag --json beta = %+v, want paused until resumed", bt)
	}
	r = run("lag")
	if r.Code != 0 || !strings.Contains(r.Stdout, "PAUSED: no call is made") || !strings.Contains(r.Stdout, "resumed") || !strings.Contains(r.Stdout, "1h0m") {
		t.Errorf("lag shows no pause:\n%s", r)
	}
	if strings.Contains(r.Stdout, "\x1b") || !strings.Contains(r.Stdout, `maintenance \x1b[31mred`) {
		t.Errorf("lag does not escape the reason:\n%q", r.Stdout)
	}

	if r := run("resume", "alpha"); r.Code != 0 || !strings.Contains(r.Stdout, "resumed alpha") {
		t.Fatalf("resume:\n%s", r)
	}
	if r := run("resume", "alpha"); r.Code != 0 || !strings.Contains(r.Stdout, "alpha was not paused") {
		t.Fatalf("resume again:\n%s", r)
	}

	testenv.PutDeadLetters(t, b.JS, "alpha", []string{"p1", "p2", "p3"})
	testenv.PutDeadLetters(t, b.JS, "gamma", []string{"r1", "r2"})
	if r := run("dlq", "purge", "--target", "alpha", "--yes"); r.Code != 0 {
		t.Fatalf("purge:\n%s", r)
	}
	if r := run("dlq", "replay", "--target", "gamma", "--reason", "exhausted"); r.Code != 0 {
		t.Fatalf("replay:\n%s", r)
	}
	if r := run("dlq", "replay", "--target", "gamma", "--dry-run"); r.Code != 0 {
		t.Fatalf("replay --dry-run:\n%s", r)
	}

	r = run("audit", "ls", "--json")
	if r.Code != 0 {
		t.Fatalf("audit ls --json:\n%s", r)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var e struct {
			Seq    uint64          `json:"seq"`
			Record json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit ls --json line %q: %v", line, err)
		}
		if err := schemas.Validate(schemas.AuditSchema, e.Record); err != nil {
			t.Errorf("audit record %d: %v\n%s", e.Seq, err, e.Record)
		}
		var rec schemas.AuditRecord
		_ = json.Unmarshal(e.Record, &rec)
		if !strings.HasPrefix(rec.Who, "cli:") || !strings.Contains(rec.Who, "@") {
			t.Errorf("audit record %d: who %q, want cli:<user>@<host>", e.Seq, rec.Who)
		}
		sel := rec.Selection.Target + strings.Join(rec.Selection.Targets, ",")
		got = append(got, rec.Action+" "+sel+" "+rec.Result+" "+strconv.Itoa(rec.Count)+"/"+strconv.Itoa(rec.Selected))
	}
	want := []string{"pause alpha ok 1/0", "pause beta ok 1/0", "resume alpha ok 1/0", "resume alpha ok 0/0",
		"purge alpha ok 3/3", "replay gamma ok 2/2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit records:\n got  %q\n want %q", got, want)
	}

	r = run("audit", "ls")
	if r.Code != 0 || !strings.Contains(r.Stdout, "WHO") || !strings.Contains(r.Stdout, "reason: maintenance \\x1b[31mred") ||
		strings.Contains(r.Stdout, "\x1b") || !strings.Contains(r.Stdout, "3 of 3") || !strings.Contains(r.Stdout, "reason exhausted") {
		t.Errorf("audit ls:\n%s", r)
	}
	r = run("audit", "ls", "--action", "pause,purge", "--limit", "2")
	if lines := strings.Split(strings.TrimSpace(r.Stdout), "\n"); r.Code != 0 || len(lines) != 3 ||
		!strings.Contains(lines[1], "beta") || !strings.Contains(lines[2], "purge") {
		t.Errorf("audit ls --action pause,purge --limit 2: want the header, beta's pause and the purge:\n%s", r)
	}
}
