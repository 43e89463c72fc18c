package deadletter

import (
	"context"
	"errors"
	"slices"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Selection is the records a Filter selected at one moment, by sequence.
// Replay and Purge work on a Selection, so that what an operator confirmed
// (or saw in a dry run) is exactly what changes: a record stored later is
// not touched.
type Selection struct {
	// Filter is the filter the records were selected with.
	Filter Filter
	// Seqs are the selected records' sequences, ascending.
	Seqs []uint64
}

// Len is the number of selected records.
func (s *Selection) Len() int { return len(s.Seqs) }

// Select returns the records f selects. Without a body filter (status) it
// reads only the records' headers.
func (s *Store) Select(ctx context.Context, f Filter) (*Selection, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	sel := &Selection{Filter: f}
	add := func(seq uint64) bool {
		sel.Seqs = append(sel.Seqs, seq)
		return f.Limit == 0 || len(sel.Seqs) < f.Limit
	}
	switch {
	case len(f.Seqs) > 0:
		err := s.listSeqs(ctx, &f, func(r *Record) (bool, error) {
			if !f.match(r) {
				return true, nil
			}
			return add(r.Seq), nil
		})
		return sel, err
	case f.needsBody():
		err := s.scan(ctx, &f, false, func(m *scanMsg) (bool, error) {
			r := s.newRecord(m.seq, m.time, m.subject, m.header, m.data)
			if !f.match(r) {
				return true, nil
			}
			return add(r.Seq), nil
		})
		return sel, err
	}
	err := s.scan(ctx, &f, true, func(m *scanMsg) (bool, error) {
		if !headersComplete(m.header) { // not written by Writer: ask the body
			r, err := s.Get(ctx, m.seq)
			if errors.Is(err, ErrNotFound) {
				return true, nil
			}
			if err != nil {
				return false, err
			}
			if !f.match(r) {
				return true, nil
			}
			return add(r.Seq), nil
		}
		if !f.matchFields(m.header.Get(schemas.HeaderReason), m.header.Get(schemas.HeaderErrorClass), m.header.Get(schemas.HeaderJobID)) {
			return true, nil
		}
		return add(m.seq), nil
	})
	return sel, err
}

// MaxSeq is the highest selected sequence, 0 when none is.
func (s *Selection) MaxSeq() uint64 {
	if len(s.Seqs) == 0 {
		return 0
	}
	return slices.Max(s.Seqs)
}
