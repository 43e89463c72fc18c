package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/dispatcher/client"
	"github.com/jetdispatch/dispatcher/schemas"
)

// checkTargetFlag is the usage error of a --target that is no target name.
func checkTargetFlag(name string) error {
	if !schemas.ValidTarget(name) {
		return usageErr("--target %q: want 1 to 64 letters, digits, _ or -", name)
	}
	return nil
}

type publishFlags struct {
	conn                                             connFlags
	target, id, method, path, data, bodyB64, replyTo string
	notAfter, traceID, file                          string
	headers                                          []string
	timeout                                          time.Duration
	maxAttempts                                      int
	asJSON                                           bool
}

// oneJobFlags are the flags that build a job from the command line; they
// make no sense with --file.
var oneJobFlags = []string{"id", "method", "path", "header", "data", "body-base64", "reply-to", "timeout", "max-attempts", "not-after", "trace-id"}

func newPublishCmd() *cobra.Command {
	var f publishFlags
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish a job from flags, or many from NDJSON",
		Long: `publish sends jobs to <prefix>.jobs.<target> with Nats-Msg-Id set to the job id,
so JetStream drops a duplicate inside its window. Every job is checked against
the job schema before it is sent.

One job: built from the flags; prints its id, stream sequence and whether
JetStream saw it as a duplicate.

Many jobs: --file F (or - for stdin) holds one JSON job per line (NDJSON; blank
lines are skipped). Lines are published asynchronously, thousands in flight.
A bad line is reported as FILE:LINE: reason and skipped; the good lines are
still published, and the exit status is 1 when any line was bad or not
acknowledged. A line without "target" goes to --target.`,
		Example: `  # one job
  dispatcher publish --target payments --path /v1/charges --data '{"amount":100}'
  dispatcher publish --target payments --id ord-1001 -H 'X-Tenant: acme' --data @charge.json
  echo '{"amount":5}' | dispatcher publish --target payments --data - --reply-to app.results

  # many jobs
  dispatcher publish --file jobs.ndjson
  jq -c '.[]' jobs.json | dispatcher publish --file - --target payments`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.file != "" {
				for _, name := range oneJobFlags {
					if cmd.Flags().Changed(name) {
						return usageErr("--%s builds a single job; with --file each line is a whole job", name)
					}
				}
				return publishFile(cmd, &f)
			}
			if f.target == "" {
				return usageErr("publish needs --target (or --file with NDJSON jobs)")
			}
			return publishOne(cmd, &f)
		},
	}
	f.conn.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.target, "target", "t", "", "target name (required for one job; with --file: for lines that name none)")
	fl.StringVar(&f.id, "id", "", "job id (default: a new ULID)")
	fl.StringVarP(&f.method, "method", "X", "POST", "HTTP method")
	fl.StringVar(&f.path, "path", "/", "path appended to the target's endpoint")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "header 'Name: value' (repeatable)")
	fl.StringVarP(&f.data, "data", "d", "", "JSON body, @file to read a file, - for stdin")
	fl.StringVar(&f.bodyB64, "body-base64", "", "raw body bytes, base64 (instead of --data)")
	fl.StringVar(&f.replyTo, "reply-to", "", "subject for the job's result")
	fl.DurationVar(&f.timeout, "timeout", 0, "per-job total timeout (capped by the target's)")
	fl.IntVar(&f.maxAttempts, "max-attempts", 0, "per-job max attempts (capped by the target's)")
	fl.StringVar(&f.notAfter, "not-after", "", "RFC 3339 time after which the job is not attempted")
	fl.StringVar(&f.traceID, "trace-id", "", "trace id (32 hex characters)")
	fl.StringVarP(&f.file, "file", "f", "", "publish the NDJSON jobs of this file, - for stdin")
	fl.BoolVar(&f.asJSON, "json", false, "print the outcome as JSON")
	envFlags(cmd, append([]string{"file", "json"}, oneJobFlags...)...)
	_ = cmd.MarkFlagFilename("file", "ndjson", "jsonl", "json")
	completeTargets(cmd, "target")
	return cmd
}

func (f *publishFlags) job(stdin io.Reader) (*schemas.Job, error) {
	j := map[string]any{}
	id := f.id
	if id == "" {
		id = ulid.Make().String()
	}
	j["id"] = id
	j["target"] = f.target
	j["method"] = strings.ToUpper(f.method)
	j["path"] = f.path
	if len(f.headers) > 0 {
		h := map[string]string{}
		for _, kv := range f.headers {
			k, v, ok := strings.Cut(kv, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, usageErr("--header %q: want 'Name: value'", kv)
			}
			h[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		j["headers"] = h
	}
	if f.data != "" && f.bodyB64 != "" {
		return nil, usageErr("--data and --body-base64 cannot be used together")
	}
	if f.data != "" {
		var raw []byte
		var err error
		switch {
		case f.data == "-":
			raw, err = io.ReadAll(stdin)
		case strings.HasPrefix(f.data, "@"):
			raw, err = os.ReadFile(f.data[1:])
		default:
			raw = []byte(f.data)
		}
		if err != nil {
			return nil, usageErr("--data: %v", err)
		}
		if !json.Valid(raw) {
			return nil, usageErr("--data is not valid JSON (use --body-base64 for raw bytes)")
		}
		j["body"] = json.RawMessage(raw)
	}
	if f.bodyB64 != "" {
		j["body_base64"] = f.bodyB64
	}
	if f.replyTo != "" {
		j["reply_to"] = f.replyTo
	}
	if f.timeout > 0 {
		j["timeout_ms"] = f.timeout.Milliseconds()
	}
	if f.maxAttempts != 0 {
		j["max_attempts"] = f.maxAttempts
	}
	if f.notAfter != "" {
		j["not_after"] = f.notAfter
	}
	if f.traceID != "" {
		j["trace_id"] = f.traceID
	}
	raw, err := json.Marshal(j)
	if err != nil {
		return nil, usageErr("encode job: %v", err)
	}
	job, err := schemas.DecodeJob(raw)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return job, nil
}

func publishOne(cmd *cobra.Command, f *publishFlags) error {
	job, err := f.job(cmd.InOrStdin())
	if err != nil {
		return err
	}
	nc, pub, err := f.conn.publisher()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
	defer cancel()
	ack, err := pub.Publish(ctx, job)
	if err != nil {
		return runtimeErr(err)
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		return json.NewEncoder(out).Encode(ack)
	}
	if ack.Duplicate {
		fmt.Fprintf(out, "duplicate: %s was already stored (stream %s seq %d) inside the duplicate window; not stored again\n", escape(ack.JobID), ack.Stream, ack.Sequence)
		return nil
	}
	fmt.Fprintf(out, "published %s to %s (stream %s seq %d, duplicate false)\n", escape(ack.JobID), escape(ack.Subject), ack.Stream, ack.Sequence)
	return nil
}

// publisher connects and returns a job publisher on the resolved subject
// prefix; the caller closes the connection.
func (f *connFlags) publisher() (*nats.Conn, *client.Publisher, error) {
	nc, _, conn, err := f.connect()
	if err != nil {
		return nil, nil, err
	}
	pub, err := client.New(nc, client.WithSubjectPrefix(conn.prefix))
	if err != nil {
		nc.Close()
		return nil, nil, usageErr("%v", err)
	}
	return nc, pub, nil
}

// publishFile publishes the NDJSON jobs of --file.
func publishFile(cmd *cobra.Command, f *publishFlags) error {
	var (
		in   io.Reader = cmd.InOrStdin()
		name           = "stdin"
	)
	if f.file != "-" {
		file, err := os.Open(f.file)
		if err != nil {
			return usageErr("--file: %v", err)
		}
		defer file.Close()
		in, name = file, f.file
	}
	nc, pub, err := f.conn.publisher()
	if err != nil {
		return err
	}
	defer nc.Close()
	if f.target != "" {
		if err := checkTargetFlag(f.target); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = pub.Ready(rctx)
	cancel()
	if err != nil {
		return runtimeErr(err)
	}

	var bad []badLine
	stderr := cmd.ErrOrStderr()
	start := time.Now()
	rep, err := pub.PublishNDJSON(ctx, in, client.NDJSONSettings{Target: f.target}, func(r client.LineResult) {
		if r.Err == nil {
			return
		}
		var le *client.LineError
		msg := r.Err.Error()
		if errors.As(r.Err, &le) {
			msg = le.Err.Error()
		}
		bad = append(bad, badLine{Line: r.Line, JobID: r.JobID, Error: msg})
		if !f.asJSON {
			fmt.Fprintf(stderr, "%s:%d: %s\n", escape(name), r.Line, escape(msg)) // msg may quote the line
		}
	})
	took := time.Since(start)
	if f.asJSON {
		if bad == nil {
			bad = []badLine{}
		}
		_ = json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
			client.NDJSONReport
			Seconds    float64   `json:"seconds"`
			JobsPerSec float64   `json:"jobs_per_second"`
			Errors     []badLine `json:"errors"`
		}{rep, took.Seconds(), float64(rep.Published) / max(took.Seconds(), 1e-9), bad})
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "published %d of %d jobs from %s in %s (%.0f jobs/s): %d invalid, %d not acknowledged, %d duplicates\n",
			rep.Published, rep.Lines, name, took.Round(time.Millisecond), float64(rep.Published)/max(took.Seconds(), 1e-9),
			rep.Invalid, rep.Failed, rep.Duplicates)
	}
	switch {
	case err != nil:
		return runtimeErr(fmt.Errorf("stopped after %d lines: %w", rep.Lines, err))
	case rep.Invalid > 0 || rep.Failed > 0:
		return runtimeErr(fmt.Errorf("%d of %d lines were not published (bad lines: %s)", rep.Invalid+rep.Failed, rep.Lines, lineList(bad)))
	}
	return nil
}

// badLine is a line of --file that was not published.
type badLine struct {
	Line  int    `json:"line"`
	JobID string `json:"id,omitempty"`
	Error string `json:"error"`
}

// lineList names the bad lines in order, the first ten of them: "17, 33".
func lineList(bad []badLine) string {
	slices.SortFunc(bad, func(a, b badLine) int { return a.Line - b.Line })
	var b strings.Builder
	for i, e := range bad {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(bad)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, e.Line)
	}
	return b.String()
}
