package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/worker"
)

// The fleet obeys the pauses bucket (pause.go): each instance watches it,
// keeps the last record of every target, and pauses or resumes its worker
// of the target; a worker attached later (at start, on a reload) takes its
// target's pause before its first delivery. The bucket's current records
// are read before start returns, so no delivery of a paused target is
// attempted by an instance that has just started.

// pausesReadTimeout bounds the first read of the pauses bucket at start.
const pausesReadTimeout = 10 * time.Second

// watchPausesStart opens the watch of the pauses bucket and applies its
// current records; the rest of the watch is watchPauses'.
func (f *fleetMember) watchPausesStart(ctx context.Context) (jetstream.KeyWatcher, error) {
	if f.pauseKV == nil {
		return nil, nil
	}
	pw, err := f.pauseKV.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", f.pauseKV.Bucket(), err)
	}
	deadline := time.NewTimer(pausesReadTimeout)
	defer deadline.Stop()
	for {
		select {
		case e, ok := <-pw.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: closed", f.pauseKV.Bucket())
			}
			if e == nil {
				return pw, nil // every current record read
			}
			f.pauseUpdate(e)
		case <-deadline.C:
			return nil, fmt.Errorf("watch %s: current records not read within %s", f.pauseKV.Bucket(), pausesReadTimeout)
		}
	}
}

// watchPauses applies the changes of the pauses bucket until ctx ends.
func (f *fleetMember) watchPauses(ctx context.Context, w jetstream.KeyWatcher) {
	each(ctx, w, func(e jetstream.KeyValueEntry) {
		if e != nil {
			f.pauseUpdate(e)
		}
	})
}

// pauseUpdate applies one change of the pauses bucket: a put pauses the
// target's worker (or ends its pause, when the record's end has passed),
// a delete or purge resumes it.
func (f *fleetMember) pauseUpdate(e jetstream.KeyValueEntry) {
	target := e.Key()
	f.mu.Lock()
	defer f.mu.Unlock()
	wk := f.workers[target]
	if e.Operation() != jetstream.KeyValuePut {
		delete(f.pauses, target)
		if wk != nil {
			wk.Resume()
		}
		return
	}
	var p TargetPause
	if err := json.Unmarshal(e.Value(), &p); err != nil || p.Target != target {
		f.log.Warn("pause record ignored", zap.String("key", target), zap.Error(err))
		return
	}
	f.pauses[target] = p
	if wk != nil {
		// Under f.mu: attach applies a pause to a new worker under it too,
		// so the last record heard is the one in effect.
		wk.Pause(p.worker())
	}
}

// applyPauseLocked gives w its target's pause, if the bucket holds one;
// f.mu held.
func (f *fleetMember) applyPauseLocked(w *worker.Worker) {
	if p, ok := f.pauses[w.Target().Name]; ok {
		w.Pause(p.worker())
	}
}

var _ Pauser = (*fleetMember)(nil)

// maxPauseCause bounds the part of a pause's reason a verdict's cause
// quotes, in bytes: health records go to every instance.
const maxPauseCause = 200

// Paused implements Pauser for the health verdicts: target's pause as the
// bucket holds it, in effect now; why names who paused it, until when,
// and the reason (the first maxPauseCause bytes).
func (f *fleetMember) Paused(target string) (until time.Time, why string, ok bool) {
	p, found := f.pauseOf(target, time.Now())
	if !found {
		return time.Time{}, "", false
	}
	why = "paused by " + p.By
	if p.Until != nil {
		until = *p.Until
		why += " until " + until.UTC().Format(time.RFC3339)
	} else {
		why += " until resumed"
	}
	if r := p.Reason; r != "" {
		if len(r) > maxPauseCause {
			r = strings.ToValidUTF8(r[:maxPauseCause], "") + "…"
		}
		why += ": " + r
	}
	return until, why, true
}

// pauseOf returns target's pause when one holds at now.
func (f *fleetMember) pauseOf(target string, now time.Time) (TargetPause, bool) {
	if f == nil {
		return TargetPause{}, false
	}
	f.mu.Lock()
	p, ok := f.pauses[target]
	f.mu.Unlock()
	return p, ok && p.ActiveAt(now)
}
