package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/schemas"
)

type publishFlags struct {
	conn                                             connFlags
	target, id, method, path, data, bodyB64, replyTo string
	notAfter, traceID                                string
	headers                                          []string
	timeout                                          time.Duration
	maxAttempts                                      int
	asJSON                                           bool
}

func newPublishCmd() *cobra.Command {
	var f publishFlags
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish a job",
		Long: `publish sends one job, built from flags, to <prefix>.jobs.<target> with
Nats-Msg-Id set to the job id, so JetStream drops a duplicate inside its window.
The job is checked against the job schema before it is sent.`,
		Example: `  dispatcher publish --target payments --path /v1/charges --data '{"amount":100}'
  dispatcher publish --target payments --id ord-1001 --header 'X-Tenant: acme' --data @charge.json
  echo '{"amount":5}' | dispatcher publish --target payments --data - --reply-to app.results`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return publishOne(cmd, &f) },
	}
	f.conn.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "", "target name (required)")
	fl.StringVar(&f.id, "id", "", "job id (default: a new ULID)")
	fl.StringVar(&f.method, "method", "POST", "HTTP method")
	fl.StringVar(&f.path, "path", "/", "path appended to the target's endpoint")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "header 'Name: value' (repeatable)")
	fl.StringVarP(&f.data, "data", "d", "", "JSON body, @file to read a file, - for stdin")
	fl.StringVar(&f.bodyB64, "body-base64", "", "raw body bytes, base64 (instead of --data)")
	fl.StringVar(&f.replyTo, "reply-to", "", "subject for the job's result")
	fl.DurationVar(&f.timeout, "timeout", 0, "per-job total timeout (capped by the target's)")
	fl.IntVar(&f.maxAttempts, "max-attempts", 0, "per-job max attempts (capped by the target's)")
	fl.StringVar(&f.notAfter, "not-after", "", "RFC 3339 time after which the job is not attempted")
	fl.StringVar(&f.traceID, "trace-id", "", "trace id (32 hex characters)")
	fl.BoolVar(&f.asJSON, "json", false, "print the outcome as JSON")
	_ = cmd.MarkFlagRequired("target")
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
	nc, js, prefix, err := f.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	data, err := json.Marshal(job)
	if err != nil {
		return runtimeErr(err)
	}
	m := nats.NewMsg(prefix + ".jobs." + job.Target)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, job.ID)
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		return runtimeErr(fmt.Errorf("publish to %s: %w (does the stream exist? start 'dispatcher serve' first)", m.Subject, err))
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		return json.NewEncoder(out).Encode(map[string]any{"id": job.ID, "stream": ack.Stream, "seq": ack.Sequence, "duplicate": ack.Duplicate})
	}
	fmt.Fprintf(out, "published %s to %s (stream %s seq %d, duplicate %v)\n", job.ID, m.Subject, ack.Stream, ack.Sequence, ack.Duplicate)
	return nil
}
