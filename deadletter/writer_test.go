package deadletter_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

func startJS(t *testing.T) jetstream.JetStream { return startJSMax(t, 0) }

// startJSMax starts a server with the given max payload (0: the default) and
// returns a JetStream handle with opts.
func startJSMax(t testing.TB, maxPayload int32, opts ...jetstream.JetStreamOpt) jetstream.JetStream {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true, MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// A record published twice with the same msg id (a crash between the
// publish and the job's ack) is stored once, with the contract's headers.
func TestWriterDeadLetterIsStoredOnceWithHeaders(t *testing.T) {
	js := startJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DISPATCH_DLQ", Subjects: []string{"dispatch.dlq.>"}})
	if err != nil {
		t.Fatal(err)
	}
	w := deadletter.NewWriter(js, "dispatch")
	rec := &schemas.DeadLetter{Job: json.RawMessage(`{"id":"ord-1","path":"/x"}`), Target: "pay", Reason: "exhausted",
		ErrorClass: "http_5xx", Error: "503 Service Unavailable", LastStatus: 503, Attempts: 3, DeadAt: time.Now().UTC()}
	for range 2 {
		if err := w.DeadLetter(ctx, rec, "dlq:pay:42"); err != nil {
			t.Fatal(err)
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("%d records stored, want 1", info.State.Msgs)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "dispatch.dlq.pay" {
		t.Errorf("subject %s", m.Subject)
	}
	for k, want := range map[string]string{"Dispatch-Reason": "exhausted", "Dispatch-Error-Class": "http_5xx", "Dispatch-Job-Id": "ord-1", "Nats-Msg-Id": "dlq:pay:42"} {
		if got := m.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var got schemas.DeadLetter
	if err := json.Unmarshal(m.Data, &got); err != nil || got.Attempts != 3 || got.Reason != "exhausted" {
		t.Errorf("record %s (%v)", m.Data, err)
	}
}

// With no stream to take the record the writer keeps retrying until its
// context ends and then reports the failure: the caller must not ack.
func TestWriterReportsWhenNotStored(t *testing.T) {
	js := startJS(t)
	w := deadletter.NewWriter(js, "dispatch")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := w.Fallback(ctx, &schemas.Fallback{Target: "pay", Reason: "circuit_open"}, "fb:pay:1")
	if err == nil {
		t.Fatal("Fallback with no stream succeeded")
	}
	if !errors.Is(err, deadletter.ErrNotStored) {
		t.Fatalf("error %v does not wrap ErrNotStored", err)
	}
}

// A dead letter too big for the server's max payload is cut, stored, and
// says what it lost in its Dispatch-Truncated header.
func TestWriterCutsOversizeRecord(t *testing.T) {
	js := startJSMax(t, 64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DISPATCH_DLQ", Subjects: []string{"dispatch.dlq.>"}})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 100<<10)
	for i := range raw {
		raw[i] = byte('a' + i%26)
	}
	rec := &schemas.DeadLetter{Raw: raw, Target: "pay", Reason: "invalid", ErrorClass: "invalid_job", Error: "not JSON", DeadAt: time.Now().UTC()}
	if err := deadletter.NewWriter(js, "dispatch").DeadLetter(ctx, rec, "dlq:pay:7"); err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(schemas.HeaderTruncated); got != schemas.CutRaw {
		t.Errorf("Dispatch-Truncated %q, want %q", got, schemas.CutRaw)
	}
	var got schemas.DeadLetter
	if err := json.Unmarshal(m.Data, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Raw) == 0 || len(got.Raw) >= len(raw) || string(got.Raw) != string(raw[:len(got.Raw)]) {
		t.Errorf("raw %d bytes, want a prefix of the %d original bytes", len(got.Raw), len(raw))
	}
	if !slices.Equal(got.Truncated, []string{schemas.CutRaw}) {
		t.Errorf("truncated %q, want [raw]", got.Truncated)
	}
	if len(m.Data)+schemas.HeaderSize(m.Header) > 64<<10 {
		t.Errorf("record of %d bytes and %d of headers, over the max payload", len(m.Data), schemas.HeaderSize(m.Header))
	}
}

// The records of a stock server (max payload 1 MiB) and a smaller stream
// max_msg_size: a record the stream refuses for its size (10054) is cut to
// the stream's limit and stored; one that cannot be cut small enough is
// reported as ErrTooLarge at once, and a full stream is not.
func TestWriterFitsStreamLimits(t *testing.T) {
	js := startJSMax(t, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dlq, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DISPATCH_DLQ", Subjects: []string{"dispatch.dlq.>"}, MaxMsgSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DISPATCH_FALLBACK", Subjects: []string{"dispatch.fallback.>"}})
	if err != nil {
		t.Fatal(err)
	}
	w := deadletter.NewWriter(js, "dispatch")
	meta := `"` + strings.Repeat("m", 700_000) + `"`
	job := json.RawMessage(`{"id":"ord-1","path":"/x","meta":` + meta + `}`)

	t.Run("fallback of a 700 kB meta fits whole", func(t *testing.T) {
		rec := &schemas.Fallback{Job: job, Target: "pay", Reason: schemas.ReasonCircuitOpen, Endpoint: "http://h", BreakerState: "open",
			At: time.Now().UTC(), ServiceName: "dispatcher", Instance: "h/1"}
		if err := w.Fallback(ctx, rec, "fb:pay:1"); err != nil {
			t.Fatal(err)
		}
		m, err := fb.GetMsg(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		var got schemas.Fallback
		if err := json.Unmarshal(m.Data, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Truncated) != 0 || got.Meta != nil || len(got.JobMeta()) != len(meta) || m.Header.Get(schemas.HeaderTruncated) != "" {
			t.Errorf("record of %d bytes: truncated %q, top-level meta %d bytes, job meta %d bytes; want meta once, whole",
				len(m.Data), got.Truncated, len(got.Meta), len(got.JobMeta()))
		}
	})
	t.Run("stream max_msg_size: cut to it", func(t *testing.T) {
		rec := &schemas.DeadLetter{Job: job, Target: "pay", Reason: "non_retryable", ErrorClass: "http_4xx", Error: "400", DeadAt: time.Now().UTC(), ServiceName: "dispatcher", Instance: "h/1"}
		if err := w.DeadLetter(ctx, rec, "dlq:pay:1"); err != nil {
			t.Fatal(err)
		}
		m, err := dlq.GetMsg(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get(schemas.HeaderTruncated); got != schemas.CutMeta || len(m.Data) > 64<<10 {
			t.Errorf("Dispatch-Truncated %q, record %d bytes; want meta cut under 64 KiB", got, len(m.Data))
		}
		if err := schemas.Validate(schemas.DeadLetterSchema, m.Data); err != nil {
			t.Error(err)
		}
	})
	t.Run("too large at its minimum", func(t *testing.T) {
		sc := dlq.CachedInfo().Config
		sc.MaxMsgSize = 200
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
		rec := &schemas.DeadLetter{Job: job, Target: "pay", Reason: "non_retryable", ErrorClass: "http_4xx", Error: "400", DeadAt: time.Now().UTC(), ServiceName: "dispatcher", Instance: "h/1"}
		start := time.Now()
		err := w.DeadLetter(ctx, rec, "dlq:pay:2")
		if !errors.Is(err, deadletter.ErrTooLarge) || !errors.Is(err, schemas.ErrTooLarge) {
			t.Fatalf("error %v, want ErrTooLarge", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the refusal took %s: it is permanent, not worth retrying", d)
		}
	})
	t.Run("a full stream is not too large", func(t *testing.T) {
		sc := dlq.CachedInfo().Config
		sc.MaxMsgSize, sc.MaxMsgs, sc.Discard = -1, 1, jetstream.DiscardNew
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		defer scancel()
		rec := &schemas.DeadLetter{Job: json.RawMessage(`{"id":"ord-2"}`), Target: "pay", Reason: "non_retryable", ErrorClass: "http_4xx", DeadAt: time.Now().UTC()}
		err := w.DeadLetter(sctx, rec, "dlq:pay:3")
		if err == nil || errors.Is(err, deadletter.ErrTooLarge) || !errors.Is(err, deadletter.ErrNotStored) {
			t.Fatalf("error %v, want ErrNotStored and not ErrTooLarge", err)
		}
	})
}
