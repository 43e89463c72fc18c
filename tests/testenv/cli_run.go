package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
)

// cliTimeout bounds one run of an operator command.
const cliTimeout = 60 * time.Second

// CLIResult is the outcome of one run of the dispatcher binary.
type CLIResult struct {
	Args   []string
	Code   int
	Stdout string
	Stderr string
}

// String shows the run for a failure message.
func (r CLIResult) String() string {
	return fmt.Sprintf("dispatcher %s\nexit status %d\n--- stdout\n%s--- stderr\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// CLIEnv is the environment of the binary: the process's, without any
// DISPATCHER_* variable (they would change what the flags mean), plus extra
// ("NAME=value").
func CLIEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISPATCHER_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// RunCLI runs the dispatcher binary with args (bounded: killed after a
// minute), stdin from stdin (nil: empty, not a terminal) and the
// environment CLIEnv(env...), and returns its exit status and output.
func RunCLI(t testing.TB, stdin io.Reader, env []string, args ...string) CLIResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = CLIEnv(env...)
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := CLIResult{Args: args, Stdout: out.String(), Stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("run dispatcher %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// EnsureStreams creates the streams of the default prefix the way the
// service does, for tests that run operator commands without a service.
func EnsureStreams(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := dispatcher.EnsureStreams(ctx, js, schemas.Topology{Prefix: Prefix}, dispatcher.StreamSettings{DeadLetterMaxAge: 720 * time.Hour, FallbackMaxAge: 168 * time.Hour})
	if err != nil {
		t.Fatalf("streams: %v", err)
	}
}

// PutDeadLetters stores one dead letter per id for target, the way
// deadletter.Writer does (same headers), publishing asynchronously, and
// waits for every ack. Each record holds a valid job with that id.
func PutDeadLetters(t testing.TB, js jetstream.JetStream, target string, ids []string) {
	t.Helper()
	now := time.Now().UTC()
	for _, id := range ids {
		job := fmt.Sprintf(`{"id":%q,"target":%q,"path":"/replayed","body":{"id":%q}}`, id, target, id)
		rec := schemas.DeadLetter{Job: json.RawMessage(job), Target: target, Reason: schemas.ReasonExhausted,
			ErrorClass: "http_5xx", Error: "503 Service Unavailable", LastStatus: 503, Attempts: 3,
			FirstAttemptAt: &now, DeadAt: now, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ServiceName: "test", Instance: "test/1"}
		data, err := json.Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg(DLQSubject(target))
		m.Data = data
		m.Header.Set(schemas.HeaderReason, rec.Reason)
		m.Header.Set(schemas.HeaderErrorClass, rec.ErrorClass)
		m.Header.Set(schemas.HeaderJobID, id)
		m.Header.Set(jetstream.MsgIDHeader, "dlq:test:"+target+":"+id)
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(10*time.Second)); err != nil {
			t.Fatalf("put dead letter %s: %v", id, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		t.Fatal("dead letters not acknowledged within 60s")
	}
}

// JobsOn returns the messages stored on subject in the jobs stream, in
// order, without consuming them.
func JobsOn(t testing.TB, js jetstream.JetStream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, JobsStream)
	if err != nil {
		t.Fatalf("stream %s: %v", JobsStream, err)
	}
	subject = Stored(subject)
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatalf("get %s from %d: %v", subject, seq, err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}
