package deadletter_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

func TestPurge(t *testing.T) {
	tests := []struct {
		name      string
		f         deadletter.Filter
		deleted   int
		remaining []uint64
	}{
		{"target", deadletter.Filter{Targets: []string{"bravo"}}, 2, []uint64{1, 2, 3, 6, 7, 8}},
		{"two targets", deadletter.Filter{Targets: []string{"alpha", "charlie"}}, 4, []uint64{4, 5, 7, 8}},
		{"everything", deadletter.Filter{}, 7, []uint64{8}},
		{"reason", deadletter.Filter{Reasons: []string{"non_retryable"}}, 3, []uint64{1, 2, 3, 6, 8}},
		{"limit", deadletter.Filter{Targets: []string{"alpha"}, Limit: 2}, 2, []uint64{3, 4, 5, 6, 7, 8}},
		{"seqs", deadletter.Filter{Seqs: []uint64{2, 6}}, 2, []uint64{1, 3, 4, 5, 7, 8}},
		{"nothing", deadletter.Filter{Targets: []string{"zulu"}}, 0, []uint64{1, 2, 3, 4, 5, 6, 7, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStreams(t)
			fixture(t, s)
			sel := s.selectAll(t, tt.f)
			// A record stored after the selection is never touched.
			s.put(t, deadLetter("alpha", "late", schemas.ReasonExhausted, "http_5xx", 503))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rep, err := s.store.Purge(ctx, sel)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Deleted != tt.deleted {
				t.Errorf("deleted %d, want %d", rep.Deleted, tt.deleted)
			}
			if got := s.list(t, deadletter.Filter{}); !slices.Equal(got, tt.remaining) {
				t.Errorf("remaining %v, want %v", got, tt.remaining)
			}
		})
	}
}

func TestPurgeGone(t *testing.T) {
	s := newStreams(t)
	fixture(t, s)
	sel := s.selectAll(t, deadletter.Filter{Reasons: []string{"exhausted"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.dlq.DeleteMsg(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rep, err := s.store.Purge(ctx, sel)
	if err != nil || rep != (deadletter.PurgeReport{Deleted: 2, Gone: 1}) {
		t.Errorf("%+v %v", rep, err)
	}
}
