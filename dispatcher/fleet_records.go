package dispatcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// The fleet: every instance of one subject prefix announces itself in the
// <prefix>_instances KV bucket (a heartbeat, deleted at shutdown, and the
// set of targets it serves under keys of its own: fleet_targets.go) and
// shares its breaker transitions in the <prefix>_breakers bucket. Each
// instance watches both: it knows which live instance serves which target
// (for limit_scope: fleet and for orphans) and adopts the others' open
// breakers. Breakers are not a gobreaker SharedDataStore: that reads and
// writes the store around every call (3-4 round trips to NATS per call); a
// transition is published once and adopted by a watch, so a call costs one
// atomic load more.

// FleetInstance is an instance's heartbeat record. It stays small whatever
// the number of targets: the served targets are named by TargetsHash, their
// names stored apart (fleet_targets.go).
type FleetInstance struct {
	// ID is unique per process start; Instance is host/pid, as in records.
	ID          string    `json:"id"`
	Instance    string    `json:"instance"`
	ServiceName string    `json:"service_name"`
	StartedAt   time.Time `json:"started_at"`
	// At is when the heartbeat was sent; HeartbeatMS how often it is.
	At          time.Time `json:"at"`
	HeartbeatMS int64     `json:"heartbeat_ms"`
	// TargetCount is how many targets the instance serves; TargetsHash
	// names their set (TargetSet.Hash), stored in TargetsParts parts under
	// the keys targetSetKey(ID, 0…TargetsParts-1). A heartbeat without
	// TargetsHash comes from a release before target sets: its Targets
	// lists every target it serves.
	TargetCount  int    `json:"target_count"`
	TargetsHash  string `json:"targets_hash,omitempty"`
	TargetsParts int    `json:"targets_parts,omitempty"`
	// Targets are the limits the instance applies now to its targets with
	// limit_scope: fleet, the first maxFleetLimits by name; TargetsOmitted
	// counts the ones left out.
	Targets        []FleetLimits `json:"targets"`
	TargetsOmitted int           `json:"targets_omitted,omitempty"`
	// Partitions is the instance's streams.partitions; 0 for a release
	// that consumed per target (its consumers are drained, then removed,
	// once no such instance is live: legacy.go).
	Partitions int `json:"partitions,omitempty"`
}

// legacy reports whether r comes from a release before target sets.
func (r FleetInstance) legacy() bool { return r.TargetsHash == "" }

// maxFleetLimits bounds FleetInstance.Targets: lag shows them to people,
// and a heartbeat goes out every fleet.heartbeat.
const maxFleetLimits = 100

// FleetLimits are the limits an instance applies to a target.
type FleetLimits struct {
	Target      string  `json:"target"`
	Scope       string  `json:"limit_scope"`
	Concurrency int     `json:"concurrency"`
	PerSecond   float64 `json:"rate_per_second,omitempty"`
}

// FleetBreaker is the shared state of one endpoint's breaker: the last
// transition an instance published for it.
type FleetBreaker struct {
	Target string `json:"target"`
	// Endpoint is the endpoint's display form (schemas.DisplayEndpoint).
	Endpoint string `json:"endpoint"`
	// State is open, half_open or closed; Until, for open and half_open,
	// is when the others may try the endpoint again without further word.
	State schemas.BreakerState `json:"state"`
	Until *time.Time           `json:"until,omitempty"`
	// By is the instance whose breaker changed, ByID its fleet ID.
	By   string    `json:"by"`
	ByID string    `json:"by_id"`
	At   time.Time `json:"at"`
}

// OpenAt reports whether the record keeps the fleet away from the endpoint
// at now.
func (b FleetBreaker) OpenAt(now time.Time) bool {
	return b.State != schemas.BreakerClosed && b.Until != nil && now.Before(*b.Until)
}

// instancesTTL is the instances bucket's max age: a killed instance's
// records go away after it. A target set is written again every third of
// it (targetSetRefresh) so that it outlives no live heartbeat.
const (
	instancesTTL     = time.Hour
	targetSetRefresh = instancesTTL / 3
)

// targetSetKey is the KV key of part of the target set of instance id:
// <id>.targets.<part>. Heartbeats are the keys of one token (the id).
func targetSetKey(id string, part int) string {
	return id + ".targets." + strconv.Itoa(part)
}

// heartbeatKeys is the watch filter of the heartbeats alone.
const heartbeatKeys = "*"

// breakerKey is the KV key of target's endpoint: <target>.<hash of its
// display form> (for an endpoint a config file accepts, its URL).
func breakerKey(target, endpoint string) string {
	h := sha256.Sum256([]byte(endpoint))
	return target + "." + hex.EncodeToString(h[:8])
}

// fleetBuckets creates (or updates) the two KV buckets.
func fleetBuckets(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, replicas int) (inst, brk jetstream.KeyValue, err error) {
	r := max(replicas, 1)
	inst, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: topo.InstancesBucket(), Description: "dispatcher instances (heartbeats)",
		History: 1, TTL: instancesTTL, Storage: jetstream.FileStorage, Replicas: r,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kv %s: %w", topo.InstancesBucket(), err)
	}
	brk, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: topo.BreakersBucket(), Description: "dispatcher breaker states shared by the fleet",
		History: 1, TTL: 24 * time.Hour, Storage: jetstream.FileStorage, Replicas: r,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kv %s: %w", topo.BreakersBucket(), err)
	}
	return inst, brk, nil
}
