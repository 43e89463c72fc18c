package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// Issue 13, the operator's side: what publishers write reaches the
// operator's terminal through the CLI's human output, and the operator's
// own environment must not widen what a destructive command does.

const (
	// hostileToken is a subject token a publisher may use: nats-server
	// takes ESC, BEL, C1 controls and bidi overrides in a subject (it
	// refuses only spaces, tabs, CR and LF). It colours the line red, sets
	// an OSC 8 hyperlink, reverses the rest of the line and sends a C1 CSI.
	// (DEL is left out: nats-server keeps a subject with DEL but leaves it
	// out of the stream's subject state, so lag could not list it.)
	hostileToken = "ev\x1b[31mil\x1b]8;;https://evil-example/\x07link\x1b]8;;\x07\u202eyx\u009b2J"
	// hostileText goes into job bodies and raw payloads: the above plus
	// DEL, a carriage return that would overwrite the line, backspaces, an
	// OSC 52 clipboard write, bidi isolates and a C1 NEL.
	hostileText = hostileToken + "\x7f\rFAKE OK\b\b\x1b]52;c;ZWNobyBwd25lZA==\a\u2066iso\u2069\u0085"
)

// hostileMarks are the escaped forms the human output must show of
// hostileToken; hostileText adds \x7f and \r.
var hostileMarks = []string{`\x1b[31m`, `\u202e`, `\u009b`}

// assertTerminalSafe fails t when out (a command's human output) holds
// anything a terminal acts on: a byte below 0x20 but '\n', DEL, a C1
// control, a bidi control, or invalid UTF-8.
func assertTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		bad := false
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(out[i:], "\uFFFD"):
			bad = true
		case r == '\n':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			bad = true
		case (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c:
			bad = true
		}
		if bad {
			t.Errorf("%s: output holds %U at byte %d, for the terminal to act on:\n%q", what, r, i, out)
			return
		}
	}
}

// assertShows fails t unless out holds each of marks.
func assertShows(t *testing.T, what, out string, marks ...string) {
	t.Helper()
	for _, m := range marks {
		if !strings.Contains(out, m) {
			t.Errorf("%s: output lacks the escaped form %s:\n%s", what, m, out)
		}
	}
}

// TestCLIHostileTerminalDLQ: a publisher puts terminal escape sequences
// (CSI colours and clear-screen, OSC 8 links, OSC 52 clipboard writes),
// carriage returns and backspaces that overwrite lines, C1 controls, DEL
// and bidi overrides into a job's body, into a payload that is not JSON,
// into an invalid job's id, and into the target token of the subject it
// publishes on (an orphan, dead-lettered unknown_target). dlq ls and dlq
// show must print all of it escaped, and their --json must still hold the
// exact original text.
func TestCLIHostileTerminalDLQ(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Status(400))
	testenv.RunService(t, b.Config(testenv.Targets(testenv.M{"alpha": testenv.Target(sink.URL)})))

	b.Publish(t, testenv.JobMsg("alpha", schemas.Job{ID: "hostile-body", Path: "/a", Body: json.RawMessage(mustJSON(t, map[string]string{"note": hostileText}))}))
	b.Publish(t, testenv.RawMsg("alpha", "hostile-raw", []byte(hostileText)))
	b.Publish(t, testenv.RawMsg("alpha", "hostile-id", mustJSON(t, map[string]string{"id": hostileText, "path": "/a"})))
	orphan := testenv.Msg{Subject: testenv.JobsSubject(hostileToken), ID: "hostile-subject", Data: mustJSON(t, schemas.Job{ID: "hostile-subject"})}
	b.Publish(t, orphan)
	testenv.WaitDeadLetters(t, b.JS, "alpha", 3, 20*time.Second)
	testenv.WaitDeadLetters(t, b.JS, hostileToken, 1, 20*time.Second)

	cli := func(args ...string) testenv.CLIResult {
		t.Helper()
		r := testenv.RunCLI(t, nil, []string{"COLUMNS=0"}, append(args, "--nats-url", b.URL)...)
		if r.Code != 0 {
			t.Fatalf("exit %d\n%s", r.Code, r)
		}
		return r
	}

	// --json: the exact text, as JSON escapes it.
	type lsLine struct {
		Seq    uint64
		Record schemas.DeadLetter
	}
	var recs []lsLine
	r := cli("dlq", "ls", "--json")
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var l lsLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("ls --json line %q: %v", line, err)
		}
		recs = append(recs, l)
	}
	if len(recs) != 4 {
		t.Fatalf("%d dead letters, want 4\n%s", len(recs), r)
	}
	found := map[string]uint64{}
	for _, l := range recs {
		var job map[string]any
		_ = json.Unmarshal(l.Record.Job, &job)
		body, _ := job["body"].(map[string]any)
		switch {
		case l.Record.Target == hostileToken:
			found["subject"] = l.Seq
		case body != nil && body["note"] == hostileText:
			found["body"] = l.Seq
		case string(l.Record.Raw) == hostileText:
			found["raw"] = l.Seq
		case job["id"] == hostileText:
			found["id"] = l.Seq
		}
	}
	if len(found) != 4 {
		t.Fatalf("ls --json does not round-trip every hostile text exactly: found %v\n%s", found, r)
	}
	// JSON escapes the C0 controls; DEL, C1 and bidi characters it may
	// leave as they are (--json is for programs, and unchanged).
	if i := strings.IndexFunc(r.Stdout, func(r rune) bool { return r < 0x20 && r != '\n' }); i >= 0 {
		t.Errorf("dlq ls --json holds a control byte at %d:\n%q", i, r.Stdout)
	}

	// The table: escaped, and its columns still line up.
	r = cli("dlq", "ls")
	assertTerminalSafe(t, "dlq ls", r.Stdout+r.Stderr)
	assertShows(t, "dlq ls", r.Stdout, hostileMarks...)
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	col := strings.Index(lines[0], "REASON")
	for _, l := range lines[1:] {
		if utf8.RuneCountInString(l) < col || !strings.Contains(l[strings.Index(l, "Z ")+2:], "  ") {
			t.Errorf("ls line %q lost its columns", l)
		}
	}

	for what, seq := range found {
		r := cli("dlq", "show", fmt.Sprint(seq))
		assertTerminalSafe(t, "dlq show ("+what+")", r.Stdout+r.Stderr)
		marks := map[string][]string{ // a job is shown as JSON, which has its own escapes for C0
			"subject": hostileMarks,
			"raw":     append(hostileMarks, `\x7f`, `\r`, `\x1b]52;`),
			"id":      {`\u001b[31m`, `\u202e`, `\u009b`, `\x7f`, `\r`},
			"body":    {`\u001b[31m`, `\u202e`, `\u009b`, `\x7f`, `\r`},
		}[what]
		assertShows(t, "dlq show ("+what+")", r.Stdout, marks...)
		r = cli("dlq", "show", fmt.Sprint(seq), "--json")
		var dl schemas.DeadLetter
		if err := json.Unmarshal([]byte(r.Stdout), &dl); err != nil {
			t.Fatalf("show --json: %v\n%s", err, r)
		}
		var job map[string]any
		_ = json.Unmarshal(dl.Job, &job)
		body, _ := job["body"].(map[string]any)
		exact := map[string]bool{"subject": dl.Target == hostileToken, "raw": string(dl.Raw) == hostileText,
			"id": job["id"] == hostileText, "body": body != nil && body["note"] == hostileText}
		if !exact[what] {
			t.Errorf("show --json of the %s record does not hold the exact text\n%s", what, r)
		}
	}
}

// TestCLIHostileTerminalLag: a publisher publishes on
// <p>.jobs.<token> with escape sequences, C1 controls, DEL and a bidi
// override in the token; nothing reads it, so lag lists it as an orphan,
// and once dead-lettered as a target. lag, lag --watch and the fleet view
// must print it escaped; lag --json must hold the exact subject.
func TestCLIHostileTerminalLag(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	testenv.EnsureStreams(t, b.JS)
	b.Publish(t, testenv.Msg{Subject: testenv.JobsSubject(hostileToken), ID: "o1", Data: []byte(`{"id":"o1"}`)})
	w := deadletter.NewWriter(b.JS, testenv.Prefix)
	if err := w.DeadLetter(context.Background(), &schemas.DeadLetter{Target: hostileToken, Reason: schemas.ReasonUnknownTarget,
		ErrorClass: schemas.ClassUnknownTarget, Error: "no live instance", DeadAt: time.Now()}, "d1"); err != nil {
		t.Fatal(err)
	}

	r := testenv.RunCLI(t, nil, nil, "lag", "--json", "--nats-url", b.URL)
	var lag dispatcher.Lag
	if err := json.Unmarshal([]byte(r.Stdout), &lag); err != nil || r.Code != 0 {
		t.Fatalf("lag --json: %v\n%s", err, r)
	}
	if len(lag.Orphans) != 1 || lag.Orphans[0].Subject != testenv.JobsSubject(hostileToken) || lag.Orphans[0].Target != hostileToken {
		t.Errorf("lag --json orphans %+v, want the exact subject %q", lag.Orphans, testenv.JobsSubject(hostileToken))
	}
	if len(lag.Targets) != 1 || lag.Targets[0].Target != hostileToken || lag.Targets[0].Dead != 1 {
		t.Errorf("lag --json targets %+v, want the exact target %q with 1 dead letter", lag.Targets, hostileToken)
	}

	for _, env := range [][]string{{"COLUMNS=0"}, {"COLUMNS=60"}} {
		r := testenv.RunCLI(t, nil, env, "lag", "--nats-url", b.URL)
		if r.Code != 0 {
			t.Fatalf("lag\n%s", r)
		}
		assertTerminalSafe(t, "lag "+env[0], r.Stdout+r.Stderr)
		if env[0] == "COLUMNS=0" {
			assertShows(t, "lag", r.Stdout, append(hostileMarks, "ORPHANS")...)
		}
	}

	out := watchFrames(t, "lag", "--watch", "--interval", "100ms", "--nats-url", b.URL)
	if strings.Count(out, "ORPHANS") < 2 {
		t.Fatalf("lag --watch printed fewer than 2 frames:\n%s", out)
	}
	assertTerminalSafe(t, "lag --watch", out)
	assertShows(t, "lag --watch", out, hostileMarks...)
}

// watchFrames runs the dispatcher with args (a --watch command) until it
// has printed two frames or 10s passed, stops it with SIGINT as an operator
// would, and returns all it printed on stdout and stderr.
func watchFrames(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	cmd.Env = testenv.CLIEnv("COLUMNS=0")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.Poll(10*time.Second, func() (bool, string) { return strings.Count(out.String(), "---") >= 2, "" })
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	return out.String()
}

// TestCLIDLQEnvDoesNotSelect: an operator's shell exports
// DISPATCHER_TARGET (or another filter's variable) for ls and lag; a bare
// `dlq purge --yes` or `dlq replay` must not take it as the selection and
// delete or replay every dead letter of that target, nor may --all stand
// beside it; a script's `--target "$UNSET"` must not select every record.
// Each is refused with exit 2 naming the flag to pass, and nothing changes.
// Selectors on the command line still work, narrowed by the variables.
func TestCLIDLQEnvDoesNotSelect(t *testing.T) {
	t.Parallel()
	attacks := []struct {
		name string
		env  []string
		args []string
		want string // in stderr
	}{
		{"purge with DISPATCHER_TARGET", []string{"DISPATCHER_TARGET=alpha"}, []string{"dlq", "purge", "--yes"}, "pass --target alpha"},
		{"replay with DISPATCHER_TARGET", []string{"DISPATCHER_TARGET=alpha"}, []string{"dlq", "replay"}, "pass --target alpha"},
		{"purge with DISPATCHER_REASON", []string{"DISPATCHER_REASON=exhausted"}, []string{"dlq", "purge", "--yes"}, "pass --reason exhausted"},
		{"replay with DISPATCHER_JOB_ID", []string{"DISPATCHER_JOB_ID=a1,b1"}, []string{"dlq", "replay"}, "pass --job-id a1,b1"},
		{"purge --all with DISPATCHER_TARGET", []string{"DISPATCHER_TARGET=alpha"}, []string{"dlq", "purge", "--all", "--yes"}, "DISPATCHER_TARGET=alpha"},
		{"purge --target of an unset variable", nil, []string{"dlq", "purge", "--target", "", "--yes"}, "--target with an empty value"},
		{"replay --since of an unset variable", nil, []string{"dlq", "replay", "--since", ""}, "--since with an empty value"},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			w := newEnvWorld(t)
			r := w.cli(a.env, a.args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, a.want) {
				t.Errorf("want exit 2 saying %q\n%s", a.want, r)
			}
			if na, nb, nj := w.count("alpha"), w.count("bravo"), w.jobs(); na != 3 || nb != 2 || nj != 0 {
				t.Errorf("%d alpha and %d bravo dead letters left (want 3 and 2), %d jobs replayed (want 0)\n%s", na, nb, nj, r)
			}
		})
	}

	// Explicit selectors work; the variable narrows them and is noted.
	t.Run("explicit selectors", func(t *testing.T) {
		t.Parallel()
		w := newEnvWorld(t)
		r := w.cli([]string{"DISPATCHER_TARGET=alpha"}, "dlq", "purge", "--reason", "exhausted", "--job-id", "a1,b1", "--yes")
		if r.Code != 0 || !strings.Contains(r.Stdout, "deleted 1 of 1") || !strings.Contains(r.Stderr, "narrowed by DISPATCHER_TARGET=alpha") {
			t.Errorf("purge --reason --job-id narrowed by DISPATCHER_TARGET\n%s", r)
		}
		if na, nb := w.count("alpha"), w.count("bravo"); na != 2 || nb != 2 {
			t.Errorf("after purging a1: %d alpha and %d bravo dead letters, want 2 and 2", na, nb)
		}
		if r := w.cli([]string{"DISPATCHER_TARGET=alpha"}, "dlq", "replay", "--target", "bravo"); r.Code != 0 || !strings.Contains(r.Stdout, "replayed 2") {
			t.Errorf("replay --target bravo (the flag wins over the variable)\n%s", r)
		}
		if nb, nj := w.count("bravo"), w.jobs(); nb != 0 || nj != 2 {
			t.Errorf("after replaying bravo: %d bravo dead letters (want 0), %d jobs (want 2)", nb, nj)
		}
		if r := w.cli(nil, "dlq", "purge", "--all", "--yes"); r.Code != 0 || !strings.Contains(r.Stdout, "deleted 2 of 2") {
			t.Errorf("purge --all --yes\n%s", r)
		}
		if na := w.count("alpha"); na != 0 {
			t.Errorf("%d alpha dead letters after purge --all", na)
		}
	})
}

// envWorld is a server with the dispatcher's streams, 3 dead letters of
// alpha (a1, a2, a3) and 2 of bravo (b1, b2), and no service.
type envWorld struct {
	t *testing.T
	b *testenv.Broker
}

func newEnvWorld(t *testing.T) *envWorld {
	t.Helper()
	w := &envWorld{t: t, b: testenv.NewBroker(t)}
	testenv.EnsureStreams(t, w.b.JS)
	testenv.PutDeadLetters(t, w.b.JS, "alpha", []string{"a1", "a2", "a3"})
	testenv.PutDeadLetters(t, w.b.JS, "bravo", []string{"b1", "b2"})
	return w
}

// count is the number of target's dead letters.
func (w *envWorld) count(target string) int {
	return testenv.CountMsgs(w.t, w.b.JS, testenv.DLQStream, testenv.DLQSubject(target))
}

// jobs is the number of jobs in the jobs stream (replayed ones: no
// service consumes them).
func (w *envWorld) jobs() int {
	return testenv.CountMsgs(w.t, w.b.JS, testenv.JobsStream, ">") // every job, in its partition or not
}

// cli runs the dispatcher against the world's server with the variables
// env (and no other DISPATCHER_* variable).
func (w *envWorld) cli(env []string, args ...string) testenv.CLIResult {
	w.t.Helper()
	return testenv.RunCLI(w.t, nil, env, append(args, "--nats-url", w.b.URL)...)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's
// reads at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
