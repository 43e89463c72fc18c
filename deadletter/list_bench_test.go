package deadletter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

// fill100k stores 100,000 records over 4 targets and 3 reasons; one in 1000
// is a non_retryable 404 of target "delta".
func fill100k(b testing.TB, s *streams) {
	targets := []string{"alpha", "bravo", "charlie", "delta"}
	batch := make([]*schemas.DeadLetter, 0, 1000)
	for i := range 100_000 {
		tg := targets[i%3]
		rec := deadLetter(tg, fmt.Sprintf("job-%06d", i), schemas.ReasonExhausted, "http_5xx", 503)
		if i%1000 == 999 {
			rec = deadLetter("delta", fmt.Sprintf("job-%06d", i), schemas.ReasonNonRetryable, "http_4xx", 404)
		}
		batch = append(batch, rec)
		if len(batch) == cap(batch) {
			s.putAsync(b, batch...)
			batch = batch[:0]
		}
	}
}

// BenchmarkList100k lists with filters over 100,000 records.
func BenchmarkList100k(b *testing.B) {
	s := newStreams(b)
	start := time.Now()
	fill100k(b, s)
	b.Logf("filled 100k records (%d bytes) in %v", s.state(b).Bytes, time.Since(start))
	cases := []struct {
		name string
		f    deadletter.Filter
		want int
	}{
		{"target=delta", deadletter.Filter{Targets: []string{"delta"}}, 100},
		{"reason=non_retryable", deadletter.Filter{Reasons: []string{"non_retryable"}}, 100},
		{"job-id", deadletter.Filter{JobIDs: []string{"job-050999"}}, 1},
		{"status=4xx", deadletter.Filter{Statuses: []deadletter.StatusRange{{400, 499}}}, 100},
		{"target=alpha", deadletter.Filter{Targets: []string{"alpha"}}, 33_300},
		{"all", deadletter.Filter{}, 100_000},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				n := 0
				err := s.store.List(context.Background(), c.f, func(*deadletter.Record) error { n++; return nil })
				if err != nil || n != c.want {
					b.Fatalf("%d records, %v; want %d", n, err, c.want)
				}
			}
		})
	}
}

// BenchmarkPage100k reads the first page (50 records) of 100,000, as the
// console's dead-letter page does: newest first, oldest first, and with a
// filter that matches one record in a thousand.
func BenchmarkPage100k(b *testing.B) {
	s := newStreams(b)
	fill100k(b, s)
	cases := []struct {
		name string
		f    deadletter.Filter
		req  deadletter.PageRequest
		want int
	}{
		{"newest", deadletter.Filter{}, deadletter.PageRequest{Newest: true}, 50},
		{"oldest", deadletter.Filter{}, deadletter.PageRequest{}, 50},
		{"target=alpha,newest", deadletter.Filter{Targets: []string{"alpha"}}, deadletter.PageRequest{Newest: true}, 50},
		{"reason=non_retryable,newest", deadletter.Filter{Reasons: []string{"non_retryable"}}, deadletter.PageRequest{Newest: true}, 20},
		{"text,newest", deadletter.Filter{Text: "job-050999"}, deadletter.PageRequest{Newest: true}, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				p, err := s.store.Page(context.Background(), c.f, c.req)
				if err != nil || len(p.Records) < c.want {
					b.Fatalf("%d records, %v; want %d", len(p.Records), err, c.want)
				}
			}
		})
	}
}
