package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Record is one stored message, its payload decoded into T.
type Record[T any] struct {
	Rec     T
	Header  nats.Header
	Subject string
	Seq     uint64
	Data    []byte
}

// DeadLetters returns every dead-letter record of target ("" for all
// targets) in stream order, without consuming anything.
func DeadLetters(t testing.TB, js jetstream.JetStream, target string) []Record[schemas.DeadLetter] {
	t.Helper()
	subj := Prefix + ".dlq.>"
	if target != "" {
		subj = DLQSubject(target)
	}
	return readStream[schemas.DeadLetter](t, js, DLQStream, subj)
}

// Fallbacks returns every fallback record of target ("" for all targets)
// in stream order, without consuming anything.
func Fallbacks(t testing.TB, js jetstream.JetStream, target string) []Record[schemas.Fallback] {
	t.Helper()
	subj := Prefix + ".fallback.>"
	if target != "" {
		subj = FallbackSubject(target)
	}
	return readStream[schemas.Fallback](t, js, FallbackStream, subj)
}

// CountMsgs is the number of messages stored in stream on subjects matching
// filter.
func CountMsgs(t testing.TB, js jetstream.JetStream, stream, filter string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(Stored(filter)))
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}

// readStream reads the messages of stream on filter with an ephemeral
// no-ack consumer (nothing is consumed), decoding each payload as T.
func readStream[T any](t testing.TB, js jetstream.JetStream, stream, filter string) []Record[T] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
		FilterSubject: filter, AckPolicy: jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: time.Minute,
	})
	if err != nil {
		t.Fatalf("reader consumer on %s: %v", stream, err)
	}
	defer func() { _ = js.DeleteConsumer(context.Background(), stream, cons.CachedInfo().Name) }()
	want := int(cons.CachedInfo().NumPending)
	out := make([]Record[T], 0, want)
	for len(out) < want {
		if ctx.Err() != nil {
			t.Fatalf("read %s %s: got %d of %d messages within 30s", stream, filter, len(out), want)
		}
		batch, err := cons.Fetch(min(want-len(out), 500), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatalf("fetch %s: %v", stream, err)
		}
		for m := range batch.Messages() {
			var rec T
			if err := json.Unmarshal(m.Data(), &rec); err != nil {
				t.Fatalf("decode %s record %q: %v", m.Subject(), m.Data(), err)
			}
			var seq uint64
			if md, err := m.Metadata(); err == nil {
				seq = md.Sequence.Stream
			}
			out = append(out, Record[T]{Rec: rec, Header: m.Headers(), Subject: m.Subject(), Seq: seq, Data: m.Data()})
		}
	}
	return out
}

// WaitDeadLetters waits (bounded) until target ("" for all) has at least n
// dead letters and returns them all.
func WaitDeadLetters(t testing.TB, js jetstream.JetStream, target string, n int, timeout time.Duration) []Record[schemas.DeadLetter] {
	t.Helper()
	subj := Prefix + ".dlq.>"
	if target != "" {
		subj = DLQSubject(target)
	}
	Eventually(t, timeout, func() (bool, string) {
		got := CountMsgs(t, js, DLQStream, subj)
		return got >= n, fmt.Sprintf("%d dead letters on %s, want %d", got, subj, n)
	})
	return DeadLetters(t, js, target)
}

// WaitFallbacks waits (bounded) until target ("" for all) has at least n
// fallback records and returns them all.
func WaitFallbacks(t testing.TB, js jetstream.JetStream, target string, n int, timeout time.Duration) []Record[schemas.Fallback] {
	t.Helper()
	subj := Prefix + ".fallback.>"
	if target != "" {
		subj = FallbackSubject(target)
	}
	Eventually(t, timeout, func() (bool, string) {
		got := CountMsgs(t, js, FallbackStream, subj)
		return got >= n, fmt.Sprintf("%d fallback records on %s, want %d", got, subj, n)
	})
	return Fallbacks(t, js, target)
}
