package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// ReadFleet reads the fleet view from the KV buckets: the instances heard
// from within 3 of their heartbeats (by the server's timestamps) with the
// targets each serves, and the breakers some instance holds open at now.
// Missing buckets (no service ran yet) give an empty view.
func ReadFleet(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, now time.Time) (*FleetView, error) {
	out := &FleetView{Instances: []FleetInstance{}, OpenBreakers: []FleetBreaker{}, serving: newServing(nil)}
	insts, err := readInstances(ctx, js, topo, now)
	if err != nil {
		return nil, err
	}
	if insts != nil {
		sets := map[string]*TargetSet{}
		cached := func(hash string) *TargetSet {
			for _, s := range sets {
				if s != nil && s.hash == hash {
					return s
				}
			}
			return nil
		}
		out.health = map[string]*HealthRecord{}
		for _, r := range insts.recs {
			// A set not read leaves the instance's serving unknown.
			sets[r.ID], _ = loadTargetSet(ctx, insts.kv, &r, cached)
			out.Instances = append(out.Instances, r.view())
			if r.legacy() {
				continue // a release before verdicts
			}
			// Verdicts not read, or stale, are none: UNKNOWN.
			if h, err := readHealth(ctx, insts.kv, r.ID); err == nil && h != nil && now.Sub(h.At) <= healthStale {
				out.health[r.ID] = h
			}
		}
		out.serving = newServing(sets)
	}
	brks, err := readAll[FleetBreaker](ctx, js, topo.BreakersBucket())
	if err != nil {
		return nil, err
	}
	for _, r := range brks {
		if r.v.OpenAt(now) {
			r.v.Endpoint = schemas.DisplayEndpoint(r.v.Endpoint) // whoever wrote the record
			out.OpenBreakers = append(out.OpenBreakers, r.v)
		}
	}
	slices.SortFunc(out.Instances, func(a, b FleetInstance) int { return strings.Compare(a.Instance+a.ID, b.Instance+b.ID) })
	slices.SortFunc(out.OpenBreakers, func(a, b FleetBreaker) int {
		return strings.Compare(a.Target+" "+a.Endpoint, b.Target+" "+b.Endpoint)
	})
	return out, nil
}

// view is r as the fleet view shows it, the same for a heartbeat of a
// release before target sets: its target count, and the limits of its
// targets with limit_scope: fleet only.
func (r FleetInstance) view() FleetInstance {
	if !r.legacy() {
		return r
	}
	r.TargetCount = len(r.Targets)
	var fl []FleetLimits
	for _, l := range r.Targets {
		if l.Scope == worker.LimitScopeFleet {
			fl = append(fl, l)
		}
	}
	r.Targets = fl
	if len(r.Targets) > maxFleetLimits {
		r.TargetsOmitted = len(r.Targets) - maxFleetLimits
		r.Targets = r.Targets[:maxFleetLimits]
	}
	return r
}

// FleetView is what lag shows of the fleet: the live instances and the
// breakers some instance holds open.
type FleetView struct {
	Instances    []FleetInstance `json:"instances"`
	OpenBreakers []FleetBreaker  `json:"open_breakers"`

	serving *Serving
	health  map[string]*HealthRecord // by instance ID: the verdicts published
}

// Serving is which of the live instances serves which target.
func (v *FleetView) Serving() *Serving { return v.serving }

// liveInstances are the live heartbeats of the instances bucket.
type liveInstances struct {
	kv   jetstream.KeyValue
	recs []FleetInstance
}

// readInstances reads the heartbeats (the keys of one token) stored within
// 3 of their heartbeats of now; nil when the bucket does not exist.
func readInstances(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, now time.Time) (*liveInstances, error) {
	kv, err := js.KeyValue(ctx, topo.InstancesBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", topo.InstancesBucket(), err)
	}
	w, err := kv.Watch(ctx, heartbeatKeys, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	out := &liveInstances{kv: kv}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return out, nil
			}
			var r FleetInstance
			if json.Unmarshal(e.Value(), &r) != nil {
				continue
			}
			r.ID = e.Key()
			hb := time.Duration(max(r.HeartbeatMS, 1)) * time.Millisecond
			if now.Sub(e.Created()) <= 3*hb {
				out.recs = append(out.recs, r)
			}
		}
	}
}

type kvRecord[T any] struct {
	v       T
	created time.Time
}

// readAll decodes every current value of the named bucket; undecodable ones
// are skipped, and a bucket that does not exist holds none.
func readAll[T any](ctx context.Context, js jetstream.JetStream, bucket string) ([]kvRecord[T], error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", bucket, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var out []kvRecord[T]
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return out, nil
			}
			var v T
			if json.Unmarshal(e.Value(), &v) == nil {
				out = append(out, kvRecord[T]{v: v, created: e.Created()})
			}
		}
	}
}
