package dispatcher

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Which instance serves which target. A heartbeat goes out every
// fleet.heartbeat, so it carries only the hash and size of the instance's
// target set; the names are put apart, gzip'd, when the set changes (and
// every targetSetRefresh, so the bucket's max age does not take them), in
// parts that each fit a NATS message. Readers fetch a set once per hash:
// instances with the same config share one.

// ErrTargetSet is wrapped by errors reading a target set from the bucket.
var ErrTargetSet = errors.New("fleet target set")

// errSetReplaced: the parts read make another set than the heartbeat
// names; a newer one was written meanwhile.
var errSetReplaced = errors.New("replaced by a newer set")

// targetSetPartSize bounds one part of a stored target set (NATS refuses
// messages over the server's max_payload, 1 MiB by default): 10,000 names
// of 64 random characters take two parts.
const targetSetPartSize = 256 << 10

// maxTargetSetBytes bounds a decoded set (names and newlines): about a
// million targets of 64 characters.
const maxTargetSetBytes = 64 << 20

// TargetSet is the set of targets one instance serves. It is immutable.
type TargetSet struct {
	names []string // sorted, distinct
	hash  string
}

// NewTargetSet returns the set of names.
func NewTargetSet(names []string) *TargetSet {
	s := slices.Clone(names)
	slices.Sort(s)
	s = slices.Compact(s)
	return &TargetSet{names: s, hash: hashNames(s)}
}

// hashNames is the hex SHA-256 of the sorted names joined by newlines.
func hashNames(sorted []string) string {
	h := sha256.New()
	for i, n := range sorted {
		if i > 0 {
			h.Write([]byte{'\n'})
		}
		h.Write([]byte(n))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Has reports whether target is in the set.
func (s *TargetSet) Has(target string) bool {
	_, ok := slices.BinarySearch(s.names, target)
	return ok
}

// Len is the number of targets in the set.
func (s *TargetSet) Len() int { return len(s.names) }

// Hash identifies the set: the hex SHA-256 of its sorted names joined by
// newlines.
func (s *TargetSet) Hash() string { return s.hash }

// All yields the names in order.
func (s *TargetSet) All() iter.Seq[string] { return slices.Values(s.names) }

// encode is how the set is stored: the names joined by newlines, gzip'd,
// cut in parts of at most partSize bytes (one part at least).
func (s *TargetSet) encode(partSize int) [][]byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // the level is valid
	_, _ = zw.Write([]byte(strings.Join(s.names, "\n")))
	_ = zw.Close()
	data := b.Bytes()
	parts := [][]byte{}
	for len(data) > partSize {
		parts = append(parts, data[:partSize])
		data = data[partSize:]
	}
	return append(parts, data)
}

// decodeTargetSet rebuilds a set from its parts; its hash must be want.
func decodeTargetSet(parts [][]byte, want string) (*TargetSet, error) {
	zr, err := gzip.NewReader(bytes.NewReader(bytes.Join(parts, nil)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTargetSet, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxTargetSetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTargetSet, err)
	}
	if len(data) > maxTargetSetBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTargetSet, maxTargetSetBytes)
	}
	var names []string
	if len(data) > 0 {
		names = strings.Split(string(data), "\n")
	}
	s := NewTargetSet(names)
	if s.hash != want {
		return nil, fmt.Errorf("%w: hash %.12s…, want %.12s…: %w", ErrTargetSet, s.hash, want, errSetReplaced)
	}
	return s, nil
}

// loadTargetSet returns the set heartbeat r announces: its Targets for a
// heartbeat of a release before target sets; else cached(hash) when not
// nil, or the set read from kv.
func loadTargetSet(ctx context.Context, kv jetstream.KeyValue, r *FleetInstance, cached func(hash string) *TargetSet) (*TargetSet, error) {
	if r.legacy() {
		names := make([]string, len(r.Targets))
		for i, l := range r.Targets {
			names[i] = l.Target
		}
		return NewTargetSet(names), nil
	}
	if s := cached(r.TargetsHash); s != nil {
		return s, nil
	}
	if r.TargetsParts < 1 || r.TargetsParts > maxTargetSetBytes/targetSetPartSize {
		return nil, fmt.Errorf("%w: instance %s: %d parts", ErrTargetSet, r.ID, r.TargetsParts)
	}
	parts := make([][]byte, r.TargetsParts)
	for i := range parts {
		e, err := kv.Get(ctx, targetSetKey(r.ID, i))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrTargetSet, targetSetKey(r.ID, i), err)
		}
		parts[i] = e.Value()
	}
	s, err := decodeTargetSet(parts, r.TargetsHash)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", r.ID, err)
	}
	return s, nil
}

// Serving is which live instance of the fleet serves which target, as one
// reader heard it.
type Serving struct {
	ids  []string              // live instance IDs, sorted
	sets map[string]*TargetSet // by ID; nil: the set is not known (yet)
}

// newServing returns the view of the live instances in sets (by ID; a nil
// set is one not known).
func newServing(sets map[string]*TargetSet) *Serving {
	ids := make([]string, 0, len(sets))
	for id := range sets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return &Serving{ids: ids, sets: sets}
}

// Instances are the live instances' IDs, sorted.
func (v *Serving) Instances() []string { return v.ids }

// Set is the target set of instance id: nil when it is not live or its set
// is not known.
func (v *Serving) Set(id string) *TargetSet { return v.sets[id] }

// Complete reports whether the target set of every live instance is known.
func (v *Serving) Complete() bool {
	for _, s := range v.sets {
		if s == nil {
			return false
		}
	}
	return true
}

// Servers returns the live instances that serve target, sorted, and those
// whose set is not known (they may serve it too).
func (v *Serving) Servers(target string) (ids, unknown []string) {
	for _, id := range v.ids {
		switch s := v.sets[id]; {
		case s == nil:
			unknown = append(unknown, id)
		case s.Has(target):
			ids = append(ids, id)
		}
	}
	return ids, unknown
}

// Share is how a target's fleet limits are split: among the instances that
// serve it or may (their set not known), and id (which serves it) with
// them; n is their count and rank id's place among them by ID.
func (v *Serving) Share(target, id string) (n, rank int) {
	ids, unknown := v.Servers(target)
	ids = append(ids, unknown...)
	if !slices.Contains(ids, id) {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return len(ids), slices.Index(ids, id)
}

// signature identifies the view: equal signatures, equal views.
func (v *Serving) signature() string {
	var b strings.Builder
	for _, id := range v.ids {
		b.WriteString(id)
		b.WriteByte(':')
		if s := v.sets[id]; s != nil {
			b.WriteString(s.hash)
		}
		b.WriteByte(' ')
	}
	return b.String()
}
