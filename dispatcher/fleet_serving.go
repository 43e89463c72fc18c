package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/dispatcher/metrics"
	"github.com/jetdispatch/dispatcher/worker"
)

// What an instance hears of the fleet, kept by its fleetMember: the live
// instances with their target sets (a Serving view), from which it takes
// each fleet-scope target's quota (split among the instances that serve
// the target) and judges orphans (a target is unknown only when no live
// instance serves it, and its grace counts from when it became so).

// servingState is the part of fleetMember that the instances watch keeps;
// guarded by fleetMember.mu.
type servingState struct {
	heard map[string]heardInstance // by instance ID: the last heartbeat heard
	view  *Serving                 // nil before the first refresh
	sig   string                   // view's signature
	n     int                      // live instances, this one included
	quota map[*worker.Worker]share // last applied to each worker

	// served holds the targets some live instance serves (while a set is
	// not known, also those served before); complete is false then.
	served   map[string]struct{}
	complete bool
	// lostAt is when a target left served, for targets no one serves now
	// (entries older than the grace matter no more and are dropped).
	lostAt map[string]time.Time
	// judgeFrom is when this instance can judge orphans: zero until the
	// watch's initial values are read, 3 heartbeats after a reconnect (the
	// others' heartbeats were not heard meanwhile); offline is set while
	// NATS is not connected.
	judgeFrom time.Time
	offline   bool
}

// heardInstance is the last heartbeat of an instance: when (the local
// clock; the server's for one read at start) and its target set (nil: not
// known).
type heardInstance struct {
	at   time.Time
	hash string
	set  *TargetSet
	// partitions is its streams.partitions; 0: it consumes per target (a
	// release before partitions), or its heartbeat was not read.
	partitions int
}

// share is a worker's place in its target's fleet limits.
type share struct{ n, rank int }

func newServingState() servingState {
	return servingState{
		heard: map[string]heardInstance{}, quota: map[*worker.Worker]share{},
		served: map[string]struct{}{}, lostAt: map[string]time.Time{},
	}
}

// watchInstances keeps the heartbeats heard, by instance ID, with the
// target set each announces.
func (f *fleetMember) watchInstances(ctx context.Context, w jetstream.KeyWatcher) {
	initial := true
	each(ctx, w, func(e jetstream.KeyValueEntry) {
		if e == nil {
			// The heartbeats stored at start are read: the fleet is heard.
			initial = false
			f.refresh()
			f.mu.Lock()
			if f.judgeFrom.IsZero() {
				f.judgeFrom = time.Now()
			}
			f.mu.Unlock()
			return
		}
		id := e.Key()
		if e.Operation() != jetstream.KeyValuePut {
			f.mu.Lock()
			delete(f.heard, id)
			f.mu.Unlock()
		} else {
			h := heardInstance{at: time.Now()}
			if initial && e.Created().Before(h.at) {
				h.at = e.Created() // a record read at start counts from when it was stored
			}
			// This instance's set is its workers'; a record too old to
			// count is not worth reading.
			if id != f.id && time.Since(h.at) < 3*f.cfg.Heartbeat {
				h.hash, h.set, h.partitions = f.heardSet(ctx, id, e.Value())
			}
			f.mu.Lock()
			f.heard[id] = h
			f.mu.Unlock()
		}
		if !initial {
			f.refresh()
		}
	})
}

// heardSet decodes the heartbeat of instance id and returns its set's hash
// and the set (nil when it cannot be read now: the instance is then taken
// to serve any target). A set is read from the bucket once per hash.
func (f *fleetMember) heardSet(ctx context.Context, id string, value []byte) (string, *TargetSet, int) {
	var rec FleetInstance
	if err := json.Unmarshal(value, &rec); err != nil {
		f.log.Warn("fleet heartbeat not understood", zap.String("instance_id", id), zap.Error(err))
		return "", nil, 0
	}
	rec.ID = id
	f.mu.Lock()
	prev := f.heard[id]
	f.mu.Unlock()
	if !rec.legacy() && prev.hash == rec.TargetsHash && prev.set != nil {
		return rec.TargetsHash, prev.set, rec.Partitions
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	set, err := loadTargetSet(lctx, f.inst, &rec, f.cachedSet)
	if err != nil {
		// A set replaced while it was read is no news: its heartbeat follows.
		if prev.hash != rec.TargetsHash && ctx.Err() == nil && !errors.Is(err, errSetReplaced) {
			f.log.Warn("fleet target set not read; the instance counts as serving every target", zap.String("instance", rec.Instance), zap.Error(err))
		}
		return rec.TargetsHash, nil, rec.Partitions
	}
	return rec.TargetsHash, set, rec.Partitions
}

// cachedSet is a set with that hash already heard, or nil.
func (f *fleetMember) cachedSet(hash string) *TargetSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.own != nil && f.own.hash == hash {
		return f.own
	}
	for _, h := range f.heard {
		if h.set != nil && h.set.hash == hash {
			return h.set
		}
	}
	return nil
}

// refresh builds the view of the live instances (heard from within 3
// heartbeats, this one always) and, when it changed, re-splits the fleet
// limits and notes the targets no one serves any more; it updates the fleet
// metrics.
func (f *fleetMember) refresh() {
	f.refreshing.Lock()
	defer f.refreshing.Unlock()
	now := time.Now()
	type change struct {
		w *worker.Worker
		q share
	}
	var changes []change
	f.mu.Lock()
	switch {
	case !f.connected():
		f.offline = true
	case f.offline:
		f.offline = false
		if !f.judgeFrom.IsZero() {
			f.judgeFrom = now.Add(3 * f.cfg.Heartbeat)
		}
	}
	cutoff := now.Add(-3 * f.cfg.Heartbeat)
	sets := map[string]*TargetSet{f.id: f.ownSet()}
	for id, h := range f.heard {
		switch {
		case id == f.id:
		case h.at.After(cutoff):
			sets[id] = h.set
		case h.at.Before(now.Add(-instancesTTL)):
			delete(f.heard, id) // its records are gone from the bucket too
		case h.set != nil:
			h.set = nil // read again should it come back
			f.heard[id] = h
		}
	}
	view := newServing(sets)
	nChanged := len(view.ids) != f.n
	f.n = len(view.ids)
	if sig := view.signature(); sig != f.sig {
		f.sig, f.view = sig, view
		f.noteServed(view, now)
		for name, w := range f.workers {
			if w.Target().LimitScope != worker.LimitScopeFleet {
				continue
			}
			if q := f.shareOf(name); q != f.quota[w] {
				f.quota[w] = q
				changes = append(changes, change{w, q})
			}
		}
	}
	for t, at := range f.lostAt {
		if now.Sub(at) > f.grace {
			delete(f.lostAt, t) // judgeFrom, older still, gives the same verdict
		}
	}
	brk := make([]metrics.FleetBreaker, 0, len(f.breakers))
	for _, b := range f.breakers {
		brk = append(brk, metrics.FleetBreaker{Target: b.Target, Endpoint: b.Endpoint, Open: b.OpenAt(now)})
	}
	n := f.n
	f.mu.Unlock()
	if nChanged {
		f.log.Info("fleet changed", zap.Int("instances", n))
	}
	for _, c := range changes {
		c.w.SetFleetSize(c.q.n, c.q.rank)
		lc, lr := c.w.Limits()
		f.m.SetLimits(c.w.Target().Name, lc, lr)
	}
	if len(changes) > 0 {
		f.announce() // the heartbeat shows the new quotas
	}
	f.m.SetFleet(n, brk)
}

// shareOf is this instance's place among the live instances serving
// target (itself included); f.mu held.
func (f *fleetMember) shareOf(target string) share {
	if f.view == nil {
		return share{1, 0}
	}
	n, rank := f.view.Share(target, f.id)
	return share{n, rank}
}

// noteServed updates served and lostAt for a new view; f.mu held.
func (f *fleetMember) noteServed(view *Serving, now time.Time) {
	served := map[string]struct{}{}
	done := map[string]bool{} // hashes added
	for _, id := range view.ids {
		s := view.sets[id]
		if s == nil || done[s.hash] {
			continue
		}
		done[s.hash] = true
		for t := range s.All() {
			served[t] = struct{}{}
		}
	}
	complete := view.Complete()
	if !complete {
		// A set not known may hold what was served before: a loss is
		// noted once it is known.
		for t := range f.served {
			served[t] = struct{}{}
		}
	}
	if !f.judgeFrom.IsZero() {
		for t := range f.served {
			if _, ok := served[t]; !ok {
				f.lostAt[t] = now
			}
		}
	}
	for t := range f.lostAt {
		if _, ok := served[t]; ok {
			delete(f.lostAt, t)
		}
	}
	f.served, f.complete = served, complete
}

// unserved reports whether no live instance of the fleet serves target
// (this one included), and since when as this instance saw it: the moment
// the last one stopped serving it, or the moment this instance could first
// judge. ok is false when some instance serves target, and when that
// cannot be told: before the fleet is heard (at start, and for 3
// heartbeats after a reconnect), while NATS is not connected, and while a
// live instance's target set is not known.
func (f *fleetMember) unserved(target string) (since time.Time, ok bool) {
	if !f.connected() {
		return time.Time{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.judgeFrom.IsZero() || f.offline || time.Now().Before(f.judgeFrom) || !f.complete || f.workers[target] != nil {
		return time.Time{}, false
	}
	if _, ok := f.served[target]; ok {
		return time.Time{}, false
	}
	since = f.judgeFrom
	if at, ok := f.lostAt[target]; ok && at.After(since) {
		since = at
	}
	return since, true
}

// perTargetLive reports whether a live instance consumes per target (a
// release before partitions), or whether that cannot be told yet.
func (f *fleetMember) perTargetLive() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.judgeFrom.IsZero() || f.offline || now.Before(f.judgeFrom) {
		return true
	}
	cutoff := now.Add(-3 * f.cfg.Heartbeat)
	for id, h := range f.heard {
		if id != f.id && h.at.After(cutoff) && h.partitions == 0 {
			return true
		}
	}
	return false
}

// spread is how many live instances there are for each one serving
// target (at least 1): a job of target is handed back by the others about
// that often before one that serves it takes it (worker.WithDeliverySpread).
func (f *fleetMember) spread(target string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.view == nil {
		return 1
	}
	ids, unknown := f.view.Servers(target)
	s := len(ids) + len(unknown)
	if s == 0 {
		return 1
	}
	return (f.n + s - 1) / s
}

// mostPartitions is the largest streams.partitions of the live instances,
// this one's included; a large number while that cannot be told yet.
func (f *fleetMember) mostPartitions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.judgeFrom.IsZero() || f.offline || now.Before(f.judgeFrom) {
		return int(^uint(0) >> 1)
	}
	most := f.partitions
	cutoff := now.Add(-3 * f.cfg.Heartbeat)
	for id, h := range f.heard {
		if id != f.id && h.at.After(cutoff) {
			most = max(most, h.partitions)
		}
	}
	return most
}

// servers is how many live instances serve target, this one included (an
// instance whose set is not known counts); at least 1.
func (f *fleetMember) servers(target string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.view == nil {
		return 1
	}
	ids, unknown := f.view.Servers(target)
	return max(len(ids)+len(unknown), 1)
}
