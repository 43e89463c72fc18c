package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestCLIPublishOne publishes single jobs from flags and checks what is
// stored, the duplicate report and the usage errors.
func TestCLIPublishOne(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	testenv.EnsureStreams(t, b.JS)
	dataFile := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(dataFile, []byte(`{"from":"file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "--nats-url=" + b.URL
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		out      string // in stdout+stderr
		wantJob  string // id of a job that must be stored as checked by check
		checkJob func(t *testing.T, j *schemas.Job)
	}{
		{name: "flags", args: []string{"publish", "--target", "pay", "--id", "p1", "--path", "/v1/charges?x=1", "-X", "put",
			"-H", "X-Tenant: acme", "--data", `{"amount":100}`, "--reply-to", "app.results", "--timeout", "2s", "--max-attempts", "2",
			"--not-after", "2030-01-01T00:00:00Z", "--trace-id", "4bf92f3577b34da6a3ce929d0e0e4736", url},
			out: "published p1 to dispatch.jobs.pay", wantJob: "p1", checkJob: func(t *testing.T, j *schemas.Job) {
				if j.Method != "PUT" || j.Path != "/v1/charges?x=1" || j.Headers["X-Tenant"] != "acme" || string(j.Body) != `{"amount":100}` ||
					j.ReplyTo != "app.results" || j.TimeoutMS != 2000 || j.MaxAttempts != 2 || j.NotAfter == nil || j.TraceID == "" {
					t.Errorf("stored job %+v", j)
				}
			}},
		{name: "duplicate", args: []string{"publish", "--target", "pay", "--id", "p1", url}, out: "duplicate: p1 was already stored"},
		{name: "json", args: []string{"publish", "--target", "pay", "--id", "p2", "--json", url}, out: `"duplicate":false`},
		{name: "data from file", args: []string{"publish", "--target", "pay", "--id", "p3", "--data", "@" + dataFile, url},
			wantJob: "p3", checkJob: func(t *testing.T, j *schemas.Job) {
				if string(j.Body) != `{"from":"file"}` {
					t.Errorf("body %s", j.Body)
				}
			}},
		{name: "data from stdin", args: []string{"publish", "--target", "pay", "--id", "p4", "--data", "-", url}, stdin: `[1,2]`,
			wantJob: "p4", checkJob: func(t *testing.T, j *schemas.Job) {
				if string(j.Body) != `[1,2]` {
					t.Errorf("body %s", j.Body)
				}
			}},
		{name: "generated id", args: []string{"publish", "--target", "pay", url}, out: "published "},
		{name: "no target", args: []string{"publish", "--id", "x", url}, code: 2, out: "needs --target"},
		{name: "bad json", args: []string{"publish", "--target", "pay", "--data", "{", url}, code: 2, out: "not valid JSON"},
		{name: "bad header", args: []string{"publish", "--target", "pay", "-H", "novalue", url}, code: 2, out: "Name: value"},
		{name: "bad path", args: []string{"publish", "--target", "pay", "--path", "v1", url}, code: 2, out: `field "path"`},
		{name: "file and id", args: []string{"publish", "--file", "-", "--id", "x", url}, code: 2, out: "--id builds a single job"},
		{name: "no stream", args: []string{"publish", "--target", "pay", "--subject-prefix", "elsewhere", url}, code: 1, out: "dispatcher serve"},
		{name: "no server", args: []string{"publish", "--target", "pay", "--nats-url", "nats://127.0.0.1:1"}, code: 1, out: "connect to NATS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testenv.RunCLI(t, strings.NewReader(tt.stdin), nil, tt.args...)
			if r.Code != tt.code || !strings.Contains(r.Stdout+r.Stderr, tt.out) {
				t.Fatalf("want exit %d and %q in the output, got:\n%s", tt.code, tt.out, r)
			}
			if tt.wantJob == "" {
				return
			}
			for _, m := range testenv.JobsOn(t, b.JS, "dispatch.jobs.pay") {
				if m.Header.Get(jetstream.MsgIDHeader) != tt.wantJob {
					continue
				}
				j, err := schemas.DecodeJob(m.Data)
				if err != nil {
					t.Fatal(err)
				}
				tt.checkJob(t, j)
				return
			}
			t.Fatalf("no job with Nats-Msg-Id %s stored", tt.wantJob)
		})
	}
}

// TestCLIPublishNDJSON publishes NDJSON with bad lines: the good lines are
// stored, the bad ones named by number, and the exit status is 1.
func TestCLIPublishNDJSON(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	testenv.EnsureStreams(t, b.JS)
	var in strings.Builder
	bad := map[int]string{
		7:  `{"id":"nd-7","target":"fast",`,
		19: `not json at all`,
		23: `{"id":"nd-23","target":"fast","colour":"red"}`,
		31: `{"id":"nd-31","target":"other"}`, // mismatches --target
	}
	good := 0
	for line := 1; line <= 40; line++ {
		switch {
		case bad[line] != "":
			in.WriteString(bad[line] + "\n")
		case line == 12:
			in.WriteString("\n") // blank: skipped
		case line%2 == 0:
			fmt.Fprintf(&in, `{"id":"nd-%d","path":"/n/%d"}`+"\n", line, line) // target from --target
			good++
		default:
			fmt.Fprintf(&in, `{"id":"nd-%d","target":"fast","body":{"line":%d}}`+"\n", line, line)
			good++
		}
	}
	r := testenv.RunCLI(t, strings.NewReader(in.String()), nil, "publish", "--file", "-", "--target", "fast", "--nats-url", b.URL)
	if r.Code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", r.Code, r)
	}
	for line := range bad {
		if !strings.Contains(r.Stderr, fmt.Sprintf("stdin:%d: ", line)) {
			t.Errorf("stderr does not name line %d\n%s", line, r)
		}
	}
	if !strings.Contains(r.Stdout, fmt.Sprintf("published %d of 39 jobs", good)) {
		t.Errorf("summary\n%s", r)
	}
	if n := len(testenv.JobsOn(t, b.JS, "dispatch.jobs.fast")); n != good {
		t.Errorf("%d jobs stored, want %d", n, good)
	}

	// From a file, with --json: the same lines are duplicates now.
	path := filepath.Join(t.TempDir(), "jobs.ndjson")
	if err := os.WriteFile(path, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r = testenv.RunCLI(t, nil, nil, "publish", "--file", path, "--target", "fast", "--json", "--nats-url", b.URL)
	var rep struct {
		Lines, Published, Duplicates, Invalid int
		Errors                                []struct{ Line int }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 1 {
		t.Fatalf("--json: %v\n%s", err, r)
	}
	if rep.Lines != 39 || rep.Published != good || rep.Duplicates != good || rep.Invalid != 4 || len(rep.Errors) != 4 {
		t.Errorf("--json report %+v", rep)
	}

	// All good: exit 0.
	r = testenv.RunCLI(t, strings.NewReader(`{"id":"ok-1","target":"fast"}`+"\n"), nil, "publish", "-f", "-", "--nats-url", b.URL)
	if r.Code != 0 {
		t.Errorf("all good lines: exit %d\n%s", r.Code, r)
	}
}
