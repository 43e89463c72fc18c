package deadletter

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// List calls fn with every record f selects, oldest first, reading the
// stream without consuming or changing it. fn may stop the listing by
// returning an error, which List returns.
func (s *Store) List(ctx context.Context, f Filter, fn func(*Record) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	n := 0
	visit := func(r *Record) (bool, error) {
		if !f.match(r) {
			return true, nil
		}
		n++
		if err := fn(r); err != nil {
			return false, err
		}
		return f.Limit == 0 || n < f.Limit, nil
	}
	if len(f.Seqs) > 0 {
		return s.listSeqs(ctx, &f, visit)
	}
	if f.headerSelective() {
		done, err := s.listByHeaders(ctx, &f, visit)
		if done || err != nil {
			return err
		}
	}
	return s.scan(ctx, &f, false, func(m *scanMsg) (bool, error) {
		// The headers decide most filters; the JSON is decoded only for a
		// record they let through.
		if headersComplete(m.header) && !f.matchFields(m.header.Get(schemas.HeaderReason), m.header.Get(schemas.HeaderErrorClass), m.header.Get(schemas.HeaderJobID)) {
			return true, nil
		}
		return visit(s.newRecord(m.seq, m.time, m.subject, m.header, m.data))
	})
}

// directGetMax is the most records listByHeaders fetches one by one; above
// it one pass over the bodies is faster.
const directGetMax = 5000

// directGetWorkers is how many direct gets are in flight at once.
const directGetWorkers = 8

// listByHeaders reads only the headers to find the records that a selective
// filter (reason, class, job id) lets through, then fetches those with
// direct gets. It returns false, having visited nothing, when there are too
// many of them for that to pay.
func (s *Store) listByHeaders(ctx context.Context, f *Filter, visit func(*Record) (bool, error)) (bool, error) {
	var seqs []uint64
	err := s.scan(ctx, f, true, func(m *scanMsg) (bool, error) {
		if headersComplete(m.header) && !f.matchFields(m.header.Get(schemas.HeaderReason), m.header.Get(schemas.HeaderErrorClass), m.header.Get(schemas.HeaderJobID)) {
			return true, nil
		}
		seqs = append(seqs, m.seq)
		// A limit counts records the body may still refuse: read on only
		// when the body has a say.
		return len(seqs) <= directGetMax && (f.Limit == 0 || f.needsBody() || len(seqs) < f.Limit), nil
	})
	if err != nil || len(seqs) > directGetMax {
		return false, err
	}
	return true, s.getOrdered(ctx, seqs, visit)
}

// getOrdered fetches the records of seqs with concurrent direct gets and
// visits them in the order of seqs, skipping those gone meanwhile.
func (s *Store) getOrdered(ctx context.Context, seqs []uint64, visit func(*Record) (bool, error)) error {
	if len(seqs) == 0 {
		return nil
	}
	st, err := s.handle(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		r   *Record
		err error
	}
	results := make([]chan result, len(seqs))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range seqs {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range min(directGetWorkers, len(seqs)) {
		go func() {
			for i := range next {
				r, err := s.get(ctx, st, seqs[i])
				results[i] <- result{r, err}
			}
		}()
	}
	for i := range seqs {
		var res result
		select {
		case res = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		switch {
		case errors.Is(res.err, ErrNotFound):
			continue
		case res.err != nil:
			return res.err
		}
		if more, err := visit(res.r); err != nil || !more {
			return err
		}
	}
	return nil
}

// listSeqs visits the records of f.Seqs in sequence order, skipping those
// that do not exist.
func (s *Store) listSeqs(ctx context.Context, f *Filter, visit func(*Record) (bool, error)) error {
	seqs := slices.Clone(f.Seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	st, err := s.handle(ctx)
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		r, err := s.get(ctx, st, seq)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if more, err := visit(r); err != nil || !more {
			return err
		}
	}
	return nil
}

// Get returns the dead letter at stream sequence seq, wrapping ErrNotFound
// when there is none (replayed, purged, aged out, or never was).
func (s *Store) Get(ctx context.Context, seq uint64) (*Record, error) {
	st, err := s.handle(ctx)
	if err != nil {
		return nil, err
	}
	return s.get(ctx, st, seq)
}

// get is Get on the stream handle st, for callers that fetch many records.
func (s *Store) get(ctx context.Context, st jetstream.Stream, seq uint64) (*Record, error) {
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: sequence %d of %s (replayed, purged or aged out?)", ErrNotFound, seq, s.stream)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s sequence %d: %w", s.stream, seq, err)
	}
	if _, ok := s.targetOf(m.Subject); !ok {
		return nil, fmt.Errorf("%w: sequence %d of %s is on %s", ErrNotFound, seq, s.stream, m.Subject)
	}
	return s.newRecord(m.Sequence, m.Time, m.Subject, m.Header, m.Data), nil
}
