package deadletter_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

// fixture stores, in this order: alpha a1..a3 (exhausted, http_5xx, 503),
// bravo b1, b2 (non_retryable, http_4xx, 404), charlie with an undecodable
// job (invalid, invalid_job, no status), and one record on delta without
// headers (not written by Writer: non_retryable, http_4xx, 410).
// It returns the sequences by name.
func fixture(t *testing.T, s *streams) map[string]uint64 {
	t.Helper()
	s.put(t,
		deadLetter("alpha", "a1", schemas.ReasonExhausted, "http_5xx", 503),
		deadLetter("alpha", "a2", schemas.ReasonExhausted, "http_5xx", 503),
		deadLetter("alpha", "a3", schemas.ReasonExhausted, "http_5xx", 503),
		deadLetter("bravo", "b1", schemas.ReasonNonRetryable, "http_4xx", 404),
		deadLetter("bravo", "b2", schemas.ReasonNonRetryable, "http_4xx", 404),
	)
	raw := deadLetter("charlie", "c1", schemas.ReasonInvalid, "invalid_job", 0)
	raw.Job, raw.Raw, raw.History, raw.Attempts = nil, []byte("{not json"), nil, 0
	s.put(t, raw)
	foreign := deadLetter("delta", "d1", schemas.ReasonNonRetryable, "http_4xx", 410)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data, _ := jsonMarshal(foreign)
	if _, err := s.js.Publish(ctx, "dispatch.dlq.delta", data); err != nil {
		t.Fatal(err)
	}
	return map[string]uint64{"a1": 1, "a2": 2, "a3": 3, "b1": 4, "b2": 5, "c1": 6, "d1": 7}
}

func TestList(t *testing.T) {
	s := newStreams(t)
	seq := fixture(t, s)
	var times []time.Time
	err := s.store.List(context.Background(), deadletter.Filter{}, func(r *deadletter.Record) error {
		times = append(times, r.Time)
		return nil
	})
	if err != nil || len(times) != 7 {
		t.Fatalf("List() saw %d records (%v), want 7", len(times), err)
	}
	seqs := func(names ...string) []uint64 {
		var out []uint64
		for _, n := range names {
			out = append(out, seq[n])
		}
		return out
	}
	tests := []struct {
		name string
		f    deadletter.Filter
		want []uint64
	}{
		{"all", deadletter.Filter{}, seqs("a1", "a2", "a3", "b1", "b2", "c1", "d1")},
		{"target", deadletter.Filter{Targets: []string{"alpha"}}, seqs("a1", "a2", "a3")},
		{"two targets", deadletter.Filter{Targets: []string{"bravo", "charlie", "bravo"}}, seqs("b1", "b2", "c1")},
		{"no such target", deadletter.Filter{Targets: []string{"zulu"}}, nil},
		{"reason", deadletter.Filter{Reasons: []string{"non_retryable"}}, seqs("b1", "b2", "d1")},
		{"class", deadletter.Filter{Classes: []string{"invalid_job"}}, seqs("c1")},
		{"reason and target", deadletter.Filter{Reasons: []string{"non_retryable"}, Targets: []string{"alpha"}}, nil},
		{"status class", deadletter.Filter{Statuses: []deadletter.StatusRange{{500, 599}}}, seqs("a1", "a2", "a3")},
		{"status code", deadletter.Filter{Statuses: []deadletter.StatusRange{{410, 410}}}, seqs("d1")},
		{"no status", deadletter.Filter{Statuses: []deadletter.StatusRange{{0, 0}}}, seqs("c1")},
		{"job id", deadletter.Filter{JobIDs: []string{"b2", "d1"}}, seqs("b2", "d1")},
		{"limit", deadletter.Filter{Limit: 2}, seqs("a1", "a2")},
		{"limit after filter", deadletter.Filter{Reasons: []string{"non_retryable"}, Limit: 2}, seqs("b1", "b2")},
		{"limit with status", deadletter.Filter{Statuses: []deadletter.StatusRange{{400, 499}}, Limit: 1}, seqs("b1")},
		{"since", deadletter.Filter{Since: times[5]}, seqs("c1", "d1")},
		{"until", deadletter.Filter{Until: times[1]}, seqs("a1", "a2")},
		{"since and until", deadletter.Filter{Since: times[2], Until: times[3]}, seqs("a3", "b1")},
		{"seqs", deadletter.Filter{Seqs: []uint64{5, 1, 5, 99}}, seqs("a1", "b2")},
		{"seqs and reason", deadletter.Filter{Seqs: []uint64{1, 4}, Reasons: []string{"non_retryable"}}, seqs("b1")},
		{"max seq", deadletter.Filter{MaxSeq: 2}, seqs("a1", "a2")},
		{"min seq", deadletter.Filter{MinSeq: 6}, seqs("c1", "d1")},
		{"min and max seq", deadletter.Filter{MinSeq: 2, MaxSeq: 3}, seqs("a2", "a3")},
		{"min seq and since", deadletter.Filter{MinSeq: 2, Since: times[4]}, seqs("b2", "c1", "d1")},
		{"text, any case", deadletter.Filter{Text: "404 UPSTREAM"}, seqs("b1", "b2")},
		{"text and reason", deadletter.Filter{Text: `"b2"`, Reasons: []string{"non_retryable"}}, seqs("b2")},
		{"text nowhere", deadletter.Filter{Text: "zebra"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.state(t)
			if got := s.list(t, tt.f); !slices.Equal(got, tt.want) {
				t.Errorf("List: %v, want %v", got, tt.want)
			}
			sel, err := s.store.Select(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sel.Seqs, tt.want) {
				t.Errorf("Select: %v, want %v", sel.Seqs, tt.want)
			}
			if after := s.state(t); after.Msgs != before.Msgs || after.FirstSeq != before.FirstSeq || after.LastSeq != before.LastSeq || after.Bytes != before.Bytes {
				t.Errorf("the stream changed: before %+v, after %+v", before, after)
			}
		})
	}
}

func TestListRecordFields(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	var got []*deadletter.Record
	if err := s.store.List(context.Background(), deadletter.Filter{}, func(r *deadletter.Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b1, d1, c1 := got[3], got[6], got[5]
	if b1.Target != "bravo" || b1.Subject != "dispatch.dlq.bravo" || b1.Reason != "non_retryable" || b1.ErrorClass != "http_4xx" || b1.JobID != "b1" {
		t.Errorf("b1: %+v", b1)
	}
	if sum := b1.Summary(); sum.Attempts != 5 || sum.LastStatus != 404 || sum.Error == "" {
		t.Errorf("b1 summary: %+v", sum)
	}
	if dl, err := b1.DeadLetter(); err != nil || len(dl.History) != 5 {
		t.Errorf("b1 decoded: %v, %v", dl, err)
	}
	if d1.Reason != "non_retryable" || d1.JobID != "d1" { // from the body: no headers
		t.Errorf("d1 (no headers): %+v", d1)
	}
	if c1.JobID != "" || c1.Reason != "invalid" {
		t.Errorf("c1 (undecodable job): %+v", c1)
	}
}

func TestListStops(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	stop := errors.New("enough")
	n := 0
	err := s.store.List(context.Background(), deadletter.Filter{}, func(*deadletter.Record) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("List returned %v after %d records, want the callback's error after 2", err, n)
	}
}

func TestListEmptyAndMissing(t *testing.T) {
	s := newStreams(t)
	if got := s.list(t, deadletter.Filter{}); len(got) != 0 {
		t.Errorf("empty stream: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	missing := deadletter.NewStore(s.js, "other", "OTHER_DLQ")
	if err := missing.List(ctx, deadletter.Filter{}, func(*deadletter.Record) error { return nil }); !errors.Is(err, deadletter.ErrNoStream) {
		t.Errorf("List without a stream: %v, want ErrNoStream", err)
	}
	if _, err := missing.Get(ctx, 1); !errors.Is(err, deadletter.ErrNoStream) {
		t.Errorf("Get without a stream: %v, want ErrNoStream", err)
	}
}

func TestGet(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := s.store.Get(ctx, 2)
	if err != nil || r.JobID != "a2" || r.Seq != 2 || r.Time.IsZero() {
		t.Fatalf("Get(2): %+v, %v", r, err)
	}
	if _, err := s.store.Get(ctx, 99); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("Get(99): %v, want ErrNotFound", err)
	}
}

func TestListSkipsGone(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.dlq.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := s.list(t, deadletter.Filter{Targets: []string{"alpha"}}); !slices.Equal(got, []uint64{1, 3}) {
		t.Errorf("after deleting 2: %v", got)
	}
	if got := s.list(t, deadletter.Filter{Reasons: []string{"exhausted"}}); !slices.Equal(got, []uint64{1, 3}) {
		t.Errorf("after deleting 2, by reason: %v", got)
	}
}
