package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// isGone reports whether a delete failed because the message is not there.
// (The client formats the server's reason into the error text, so the text
// is all there is to go by.)
func isGone(err error) bool {
	return errors.Is(err, jetstream.ErrMsgNotFound) ||
		(errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) && strings.Contains(err.Error(), "no message found"))
}

// purgeWorkers is how many deletes Purge has in flight at once.
const purgeWorkers = 8

// PurgeReport counts what a Purge deleted.
type PurgeReport struct {
	// Deleted records were removed by this purge.
	Deleted int `json:"deleted"`
	// Gone records were already gone (replayed, purged or aged out).
	Gone int `json:"gone"`
}

// Purge deletes the selected records. A selection of whole targets (or of
// everything) is purged by subject up to its highest sequence in one request
// per subject; any other is deleted record by record. Records stored after
// the selection was made are never touched.
func (s *Store) Purge(ctx context.Context, sel *Selection) (PurgeReport, error) {
	var rep PurgeReport
	if sel.Len() == 0 {
		return rep, nil
	}
	st, err := s.handle(ctx)
	if err != nil {
		return rep, err
	}
	if sel.Filter.onlyTargets() {
		for _, subj := range s.subjects(&sel.Filter) {
			if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(sel.MaxSeq()+1)); err != nil {
				return rep, fmt.Errorf("purge %s: %w", subj, err)
			}
		}
		rep.Deleted = sel.Len()
		return rep, nil
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	seqs := make(chan uint64)
	for range min(purgeWorkers, sel.Len()) {
		wg.Go(func() {
			for seq := range seqs {
				err := st.DeleteMsg(ctx, seq)
				mu.Lock()
				switch {
				case err == nil:
					rep.Deleted++
				case isGone(err):
					rep.Gone++
				case firstErr == nil:
					firstErr = fmt.Errorf("delete %s sequence %d: %w", s.stream, seq, err)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, seq := range sel.Seqs {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		select {
		case seqs <- seq:
		case <-ctx.Done():
			break feed
		}
	}
	close(seqs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return rep, firstErr
}
