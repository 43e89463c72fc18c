package deadletter_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

// pages reads every page of f, following Next, and returns each page's
// sequences.
func pages(t *testing.T, s *streams, f deadletter.Filter, req deadletter.PageRequest) [][]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out [][]uint64
	for range 50 {
		p, err := s.store.Page(ctx, f, req)
		if err != nil {
			t.Fatalf("Page(%+v, %+v): %v", f, req, err)
		}
		var seqs []uint64
		for _, r := range p.Records {
			if r.Data == nil {
				t.Errorf("record %d without its body", r.Seq)
			}
			seqs = append(seqs, r.Seq)
		}
		out = append(out, seqs)
		if p.Next == 0 {
			return out
		}
		req.Cursor = p.Next
	}
	t.Fatal("more than 50 pages")
	return nil
}

func TestPage(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	for _, c := range []struct {
		name string
		f    deadletter.Filter
		req  deadletter.PageRequest
		want [][]uint64
	}{
		{"oldest first", deadletter.Filter{}, deadletter.PageRequest{Size: 3}, [][]uint64{{1, 2, 3}, {4, 5, 6}, {7}}},
		{"newest first", deadletter.Filter{}, deadletter.PageRequest{Size: 3, Newest: true}, [][]uint64{{7, 6, 5}, {4, 3, 2}, {1}}},
		{"exactly one page", deadletter.Filter{}, deadletter.PageRequest{Size: 7, Newest: true}, [][]uint64{{7, 6, 5, 4, 3, 2, 1}}},
		{"target, newest first", deadletter.Filter{Targets: []string{"alpha"}}, deadletter.PageRequest{Size: 2, Newest: true}, [][]uint64{{3, 2}, {1}}},
		{"reason, headers and a body", deadletter.Filter{Reasons: []string{"non_retryable"}}, deadletter.PageRequest{Size: 2}, [][]uint64{{4, 5}, {7}}},
		{"reason, newest first", deadletter.Filter{Reasons: []string{"non_retryable"}}, deadletter.PageRequest{Size: 2, Newest: true}, [][]uint64{{7, 5}, {4}}},
		{"status", deadletter.Filter{Statuses: []deadletter.StatusRange{{400, 499}}}, deadletter.PageRequest{Size: 2, Newest: true}, [][]uint64{{7, 5}, {4}}},
		{"text", deadletter.Filter{Text: "upstream said no", Targets: []string{"alpha", "bravo"}}, deadletter.PageRequest{Size: 4}, [][]uint64{{1, 2, 3, 4}, {5}}},
		{"nothing", deadletter.Filter{Targets: []string{"zulu"}}, deadletter.PageRequest{Newest: true}, [][]uint64{nil}},
		// The budget ends a page early; the cursor reads on.
		{"budget", deadletter.Filter{Classes: []string{"invalid_job"}}, deadletter.PageRequest{Size: 5, ScanBudget: 2}, [][]uint64{nil, nil, {6}, nil}},
		{"budget, newest first", deadletter.Filter{JobIDs: []string{"a1"}}, deadletter.PageRequest{Size: 1, Newest: true, ScanBudget: 3}, [][]uint64{nil, nil, {1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := pages(t, s, c.f, c.req); !slices.EqualFunc(got, c.want, slices.Equal) {
				t.Errorf("pages %v, want %v", got, c.want)
			}
		})
	}
}

// TestPageScanBudget: a page says how much it read and whether the budget
// ended it.
func TestPageScanBudget(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	p, err := s.store.Page(context.Background(), deadletter.Filter{Reasons: []string{schemas.ReasonInvalid}}, deadletter.PageRequest{ScanBudget: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 0 || !p.Partial || p.Scanned != 4 || p.Next != 5 {
		t.Errorf("page %+v: want no record, partial, 4 scanned, next 5", p)
	}
}

// TestFallbackStore: the same reader pages fallback records, and replays
// none.
func TestFallbackStore(t *testing.T) {
	s := newStreams(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: "DISPATCH_FALLBACK", Subjects: []string{"dispatch.fallback.>"}}); err != nil {
		t.Fatal(err)
	}
	w := deadletter.NewWriter(s.js, "dispatch")
	for _, id := range []string{"f1", "f2"} {
		rec := &schemas.Fallback{Job: []byte(`{"id":"` + id + `","target":"alpha","path":"/x"}`), Target: "alpha", Reason: "circuit_open",
			Endpoint: "https://pay.example.com", BreakerState: "open", At: time.Now().UTC()}
		if err := w.Fallback(ctx, rec, "fb:"+id); err != nil {
			t.Fatal(err)
		}
	}
	fs := deadletter.NewFallbackStore(s.js, "dispatch", "DISPATCH_FALLBACK")
	p, err := fs.Page(ctx, deadletter.Filter{Targets: []string{"alpha"}}, deadletter.PageRequest{Newest: true})
	if err != nil || len(p.Records) != 2 {
		t.Fatalf("Page: %+v, %v", p, err)
	}
	r := p.Records[0]
	if r.Target != "alpha" || r.JobID != "f2" || r.Reason != "circuit_open" {
		t.Errorf("newest fallback record: %+v", r)
	}
	if fb, err := r.Fallback(); err != nil || fb.Endpoint != "https://pay.example.com" {
		t.Errorf("Fallback(): %+v, %v", fb, err)
	}
	if _, _, err := fs.ReplayMessage(r); err == nil {
		t.Error("a fallback record was made replayable")
	}
}
