package deadletter

import (
	"context"
	"fmt"
	"slices"
)

// A page is one screen of records for a browser: a few records a filter
// selects, from a cursor, oldest or newest first, without reading the
// stream from its start every time. A filter that the headers decide
// (targets, reasons, classes, job ids, times) is read from the headers and
// only the records shown are fetched whole; one that needs the bodies
// (status, text) reads them. Either way a page reads at most
// PageRequest.ScanBudget messages: a rare match in a large stream ends the
// page early, with a cursor to read on from.

// DefaultPageSize and DefaultScanBudget are a PageRequest's zero values.
const (
	DefaultPageSize   = 50
	DefaultScanBudget = 20_000
	// MaxPageSize bounds PageRequest.Size.
	MaxPageSize = 1000
)

// PageRequest says which page to read.
type PageRequest struct {
	// Cursor is where the page starts: the Next of the page before, or 0
	// for the first page (the oldest records, or with Newest the newest).
	// Oldest first, the page starts at that sequence; newest first, below
	// it.
	Cursor uint64
	// Size is how many records the page holds at most: DefaultPageSize
	// when 0, at most MaxPageSize.
	Size int
	// Newest reads from the newest records back.
	Newest bool
	// ScanBudget bounds the messages read for the page:
	// DefaultScanBudget when 0.
	ScanBudget int
}

// Page is one page of records.
type Page struct {
	// Records are in the order asked for: oldest first, or newest first.
	Records []*Record
	// Next is the cursor of the following page; 0 when there is none.
	Next uint64
	// Scanned counts the messages read for the page; Partial is true when
	// the scan budget ended it before it was full (Next reads on).
	Scanned int
	Partial bool
}

// Page reads one page of the records f selects (f.Limit and f.Seqs are
// not used: the request says how many, and where from). It reads the
// stream without consuming or changing it.
func (s *Store) Page(ctx context.Context, f Filter, req PageRequest) (*Page, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if req.Size <= 0 {
		req.Size = DefaultPageSize
	}
	req.Size = min(req.Size, MaxPageSize)
	if req.ScanBudget <= 0 {
		req.ScanBudget = DefaultScanBudget
	}
	f.Limit, f.Seqs = 0, nil
	if req.Newest {
		return s.pageBack(ctx, f, req)
	}
	return s.pageForward(ctx, f, req)
}

// pageForward reads the page from req.Cursor on: the first Size+1 matches
// tell whether there is a next page.
func (s *Store) pageForward(ctx context.Context, f Filter, req PageRequest) (*Page, error) {
	if req.Cursor > f.MinSeq {
		f.MinSeq = req.Cursor
	}
	p := &Page{}
	hits, last, err := s.pageScan(ctx, &f, req.Size+1, req.ScanBudget, &p.Scanned)
	if err != nil {
		return nil, err
	}
	switch {
	case len(hits) > req.Size:
		p.Next = hits[req.Size].Seq
		hits = hits[:req.Size]
	case p.Scanned >= req.ScanBudget && last != 0:
		p.Next, p.Partial = last+1, true
	}
	p.Records, err = s.complete(ctx, &f, hits)
	return p, err
}

// pageBack reads the page before req.Cursor (the stream's end for 0),
// newest first: windows of sequences, each twice the one after it, read
// forward, until Size+1 matches are found, the budget is spent or the
// stream's start is reached.
func (s *Store) pageBack(ctx context.Context, f Filter, req PageRequest) (*Page, error) {
	st, err := s.handle(ctx)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.stream, err)
	}
	first := max(info.State.FirstSeq, f.MinSeq, 1)
	hi := info.State.LastSeq
	if f.MaxSeq != 0 {
		hi = min(hi, f.MaxSeq)
	}
	if req.Cursor != 0 {
		hi = min(hi, req.Cursor-1)
	}
	p := &Page{}
	var found []*Record // newest first
	window := uint64(4 * (req.Size + 1))
	for hi >= first && hi != 0 && len(found) <= req.Size {
		// A window is read whole (it holds at most as many messages as
		// sequences), so that no newer record is left behind it.
		w := min(window, uint64(req.ScanBudget-p.Scanned))
		lo := first
		if hi-first+1 > w {
			lo = hi - w + 1
		}
		wf := f
		wf.MinSeq, wf.MaxSeq = lo, hi
		hits, _, err := s.pageScan(ctx, &wf, 0, req.ScanBudget-p.Scanned, &p.Scanned)
		if err != nil {
			return nil, err
		}
		for i := len(hits) - 1; i >= 0; i-- {
			found = append(found, hits[i])
		}
		if lo == first {
			hi = 0
			break
		}
		hi = lo - 1
		if p.Scanned >= req.ScanBudget {
			if len(found) <= req.Size {
				p.Next, p.Partial = hi+1, true
			}
			break
		}
		window *= 2
	}
	if len(found) > req.Size {
		found = found[:req.Size]
		p.Next, p.Partial = found[len(found)-1].Seq, false
	}
	p.Records, err = s.complete(ctx, &f, found)
	return p, err
}

// pageScan reads the messages f selects in stream order and returns those
// that match, at most limit (0: no limit), and the last sequence read.
// scanned counts every message read; the scan stops when it reaches
// budget. Without a body filter only the headers are read: the records
// returned then hold no Data (complete fetches it).
func (s *Store) pageScan(ctx context.Context, f *Filter, limit, budget int, scanned *int) ([]*Record, uint64, error) {
	if budget <= 0 {
		return nil, 0, nil
	}
	var hits []*Record
	var last uint64
	headersOnly := !f.needsBody()
	err := s.scan(ctx, f, headersOnly, func(m *scanMsg) (bool, error) {
		*scanned++
		budget--
		last = m.seq
		r := s.newRecord(m.seq, m.time, m.subject, m.header, m.data)
		ok := true
		switch {
		case !headersOnly:
			ok = f.match(r)
		case headersComplete(m.header):
			ok = f.matchFields(r.Reason, r.ErrorClass, r.JobID)
		}
		// A record without the writer's headers is judged on its body by
		// complete.
		if ok {
			hits = append(hits, r)
		}
		return budget > 0 && (limit == 0 || len(hits) < limit), nil
	})
	return hits, last, err
}

// complete fetches the bodies of the records read from their headers only,
// in order, dropping those gone meanwhile; a record whose headers did not
// say its reason and class (not written by Writer) is judged by f on its
// body now.
func (s *Store) complete(ctx context.Context, f *Filter, recs []*Record) ([]*Record, error) {
	var missing []uint64
	for _, r := range recs {
		if r.Data == nil {
			missing = append(missing, r.Seq)
		}
	}
	if len(missing) == 0 {
		return recs, nil
	}
	got := make(map[uint64]*Record, len(missing))
	err := s.getOrdered(ctx, missing, func(r *Record) (bool, error) {
		got[r.Seq] = r
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Record, 0, len(recs))
	for _, r := range recs {
		if r.Data != nil {
			out = append(out, r)
			continue
		}
		full := got[r.Seq]
		if full == nil || ((r.Reason == "" || r.ErrorClass == "") && !f.match(full)) {
			continue
		}
		out = append(out, full)
	}
	return slices.Clip(out), nil
}
