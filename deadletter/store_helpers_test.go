package deadletter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

// streams is a test's server with the dispatcher's jobs and dead-letter
// streams for the prefix "dispatch", configured as the service does.
type streams struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	jobs  jetstream.Stream
	dlq   jetstream.Stream
	store *deadletter.Store
}

func newStreams(t testing.TB) *streams {
	t.Helper()
	return newStreamsMax(t, 0)
}

// newStreamsMax is newStreams on a server with the given max payload (0:
// the default).
func newStreamsMax(t testing.TB, maxPayload int32) *streams {
	t.Helper()
	js := startJSMax(t, maxPayload, jetstream.WithPublishAsyncMaxPending(4096))
	nc := js.Conn()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	jobs, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DISPATCH_JOBS", Subjects: []string{"dispatch.jobs.>", "dispatch.retry.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DISPATCH_DLQ", Subjects: []string{"dispatch.dlq.>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute, AllowDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	return &streams{nc: nc, js: js, jobs: jobs, dlq: dlq, store: deadletter.NewStore(js, "dispatch", "DISPATCH_DLQ")}
}

// deadLetter builds a realistic record: the job, five attempts of history.
func deadLetter(target, id, reason, class string, status int) *schemas.DeadLetter {
	now := time.Now().UTC()
	job := fmt.Sprintf(`{"id":%q,"target":%q,"path":"/v1/charges","headers":{"Content-Type":"application/json"},"body":{"amount":100,"currency":"EUR"}}`, id, target)
	rec := &schemas.DeadLetter{Job: json.RawMessage(job), Target: target, Reason: reason, ErrorClass: class,
		Error: fmt.Sprintf("%d upstream said no", status), LastStatus: status, Attempts: 5, FirstAttemptAt: &now, DeadAt: now,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ServiceName: "dispatcher", Instance: "test/1"}
	for i := 1; i <= 5; i++ {
		rec.History = append(rec.History, schemas.Attempt{Attempt: i, At: now, Endpoint: "https://pay.example.com",
			Status: status, ErrorClass: class, Error: rec.Error, DurationMS: 12.5})
	}
	return rec
}

// putAsync stores records the way deadletter.Writer does, asynchronously,
// and waits for every ack.
func (s *streams) putAsync(t testing.TB, recs ...*schemas.DeadLetter) {
	t.Helper()
	for i, rec := range recs {
		data, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg(schemas.Topology{Prefix: "dispatch"}.DLQSubject(rec.Target))
		m.Data = data
		m.Header.Set(schemas.HeaderReason, rec.Reason)
		m.Header.Set(schemas.HeaderErrorClass, rec.ErrorClass)
		var j struct{ ID string }
		if json.Unmarshal(rec.Job, &j) == nil && j.ID != "" {
			m.Header.Set(schemas.HeaderJobID, j.ID)
		}
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("dlq:test:%d:%d", time.Now().UnixNano(), i))
		if _, err := s.js.PublishMsgAsync(m, jetstream.WithStallWait(10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-s.js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		t.Fatal("records not acked within 60s")
	}
}

// put stores records with the package's own Writer.
func (s *streams) put(t testing.TB, recs ...*schemas.DeadLetter) {
	t.Helper()
	w := deadletter.NewWriter(s.js, "dispatch")
	for i, rec := range recs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.DeadLetter(ctx, rec, fmt.Sprintf("dlq:%s:%d:%d", rec.Target, time.Now().UnixNano(), i))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// state is the dead-letter stream's message count and sequences.
func (s *streams) state(t testing.TB) jetstream.StreamState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := s.dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// list returns the sequences List selects.
func (s *streams) list(t testing.TB, f deadletter.Filter) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var seqs []uint64
	if err := s.store.List(ctx, f, func(r *deadletter.Record) error { seqs = append(seqs, r.Seq); return nil }); err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	return seqs
}
