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
)

// ReadFleet reads the fleet view from the KV buckets: the instances heard
// from within 3 of their heartbeats (by the server's timestamps) and the
// breakers some instance holds open at now. Missing buckets (no service ran
// yet) give an empty view.
func ReadFleet(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, now time.Time) (*FleetView, error) {
	out := &FleetView{Instances: []FleetInstance{}, OpenBreakers: []FleetBreaker{}}
	insts, err := readAll[FleetInstance](ctx, js, topo.InstancesBucket())
	if err != nil {
		return nil, err
	}
	for _, r := range insts {
		hb := time.Duration(max(r.v.HeartbeatMS, 1)) * time.Millisecond
		if now.Sub(r.created) <= 3*hb {
			out.Instances = append(out.Instances, r.v)
		}
	}
	brks, err := readAll[FleetBreaker](ctx, js, topo.BreakersBucket())
	if err != nil {
		return nil, err
	}
	for _, r := range brks {
		if r.v.OpenAt(now) {
			out.OpenBreakers = append(out.OpenBreakers, r.v)
		}
	}
	slices.SortFunc(out.Instances, func(a, b FleetInstance) int { return strings.Compare(a.Instance+a.ID, b.Instance+b.ID) })
	slices.SortFunc(out.OpenBreakers, func(a, b FleetBreaker) int {
		return strings.Compare(a.Target+" "+a.Endpoint, b.Target+" "+b.Endpoint)
	})
	return out, nil
}

// FleetView is what lag shows of the fleet: the live instances and the
// breakers some instance holds open.
type FleetView struct {
	Instances    []FleetInstance `json:"instances"`
	OpenBreakers []FleetBreaker  `json:"open_breakers"`
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
