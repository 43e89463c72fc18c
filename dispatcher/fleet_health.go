package dispatcher

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
)

// Each live instance publishes its verdicts on the targets it serves under
// <id>.health.<n> in the instances bucket, so that a one-shot 'dispatcher
// lag' reads them at once instead of judging a window itself. A record
// lists only the targets that are not OK and idle (a target served and not
// listed is OK, with nothing stored, in flight or ended in the window), so
// 10,000 idle targets cost a few hundred bytes; the listed ones are cut in
// parts, each a gzip'd JSON document that stands alone, written whenever
// they change and every healthRefresh.

// healthRefresh is how often an instance writes its verdicts when they do
// not change; a reader takes a record older than healthStale for none (the
// instance judges no more: its backlog polls fail).
const (
	healthRefresh = 30 * time.Second
	healthStale   = 2*healthRefresh + 10*time.Second
)

// healthKey is the KV key of part n of instance id's verdicts.
func healthKey(id string, part int) string { return id + ".health." + strconv.Itoa(part) }

// HealthRecord is one part of an instance's verdicts.
type HealthRecord struct {
	// ID is the instance's fleet id; At when the verdicts were judged.
	ID string    `json:"id"`
	At time.Time `json:"at"`
	// WindowMS is the instance's health.window in milliseconds.
	WindowMS int64 `json:"window_ms"`
	// Part is this part's number, Parts how many make the record.
	Part  int `json:"part"`
	Parts int `json:"parts"`
	// Served is how many targets the instance serves; Listed how many
	// the record's parts list (the others are OK and idle).
	Served int `json:"served"`
	Listed int `json:"listed"`
	// Targets are this part's verdicts, sorted by target.
	Targets []TargetVerdict `json:"targets"`
}

// TargetVerdict is an instance's verdict on one target it serves.
type TargetVerdict struct {
	Target string        `json:"target"`
	State  verdict.State `json:"state"`
	Cause  string        `json:"cause,omitempty"`
	// Since is when the instance first judged the target so, Until when
	// a HELD or PAUSED state ends.
	Since time.Time  `json:"since"`
	Until *time.Time `json:"until,omitempty"`
	// Backlog is the target's stored jobs at the last poll; Trend their
	// change per second over the window; Rate this instance's outcomes
	// per second; ETAMS the time to work off the backlog at Rate (-1:
	// never, no outcome).
	Backlog uint64  `json:"backlog,omitempty"`
	Trend   float64 `json:"trend,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
	ETAMS   int64   `json:"eta_ms,omitempty"`
	// InFlight is the instance's calls in flight, Buffered the deliveries
	// it holds that are not in a call.
	InFlight int `json:"in_flight,omitempty"`
	Buffered int `json:"buffered,omitempty"`
	// Outcomes, Deliveries and Redeliveries happened in the window here.
	Outcomes     uint64 `json:"outcomes,omitempty"`
	Deliveries   uint64 `json:"deliveries,omitempty"`
	Redeliveries uint64 `json:"redeliveries,omitempty"`
}

// idle reports whether v is a served target's default, left out of a
// record: OK with nothing stored, in flight or ended in the window.
func (v TargetVerdict) idle() bool {
	return v.State == verdict.OK && v.Backlog == 0 && v.InFlight == 0 && v.Buffered == 0 &&
		v.Outcomes == 0 && v.Deliveries == 0
}

// round3 keeps 3 decimals: what a rate needs, and short JSON.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// encodeHealth cuts the verdicts listed (sorted by target) into parts of at
// most partSize bytes each, every one gzip'd JSON standing alone: one part
// when they fit, else twice as many each time until every part fits.
func encodeHealth(head HealthRecord, listed []TargetVerdict, partSize int) ([][]byte, error) {
	head.Listed = len(listed)
	for k := 1; ; k *= 2 {
		per := max((len(listed)+k-1)/k, 1)
		n := max((len(listed)+per-1)/per, 1)
		parts := make([][]byte, 0, n)
		for i := range n {
			rec := head
			rec.Part, rec.Parts = i, n
			rec.Targets = listed[min(i*per, len(listed)):min((i+1)*per, len(listed))]
			b, err := gzipJSON(rec)
			if err != nil {
				return nil, err
			}
			if len(b) > partSize {
				break
			}
			parts = append(parts, b)
		}
		if len(parts) == n {
			return parts, nil
		}
		if per == 1 {
			return nil, fmt.Errorf("a verdict does not fit a part of %d bytes", partSize)
		}
	}
}

func gzipJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // the level is valid
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// maxHealthPartBytes bounds a decoded part.
const maxHealthPartBytes = 16 << 20

func decodeHealthPart(data []byte) (HealthRecord, error) {
	var rec HealthRecord
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return rec, err
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxHealthPartBytes+1))
	if err != nil {
		return rec, err
	}
	if len(raw) > maxHealthPartBytes {
		return rec, fmt.Errorf("over %d bytes", maxHealthPartBytes)
	}
	err = json.Unmarshal(raw, &rec)
	return rec, err
}

// healthWritten is what of this instance's verdicts is in the bucket.
type healthWritten struct {
	sig   string    // the listed verdicts, encoded, at the last write
	at    time.Time // of the last write
	parts int       // written at the last write
	most  int       // the most parts ever written: what stop deletes
}

// putHealth writes this instance's verdicts when they changed since the
// last write or healthRefresh passed: the parts from the last to the
// first (a reader starts with part 0), then deletes parts a longer record
// left. Called from the backlog poller's goroutine only.
func (f *fleetMember) putHealth(ctx context.Context, now time.Time, window time.Duration, served int, listed []TargetVerdict) {
	if f == nil || !f.connected() {
		return
	}
	sig, _ := json.Marshal(listed)
	hw := &f.healthW
	if string(sig) == hw.sig && now.Sub(hw.at) < healthRefresh {
		return
	}
	parts, err := encodeHealth(HealthRecord{ID: f.id, At: now.UTC(), WindowMS: window.Milliseconds(), Served: served}, listed, f.partSize)
	if err != nil {
		f.log.Warn("verdicts not published", zap.Error(err))
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hw.most = max(hw.most, len(parts))
	for i := len(parts) - 1; i >= 0; i-- {
		if _, err := f.inst.Put(pctx, healthKey(f.id, i), parts[i]); err != nil {
			f.log.Warn("verdicts not published", zap.Error(err))
			return
		}
	}
	for i := len(parts); i < hw.parts; i++ {
		_ = f.inst.Delete(pctx, healthKey(f.id, i))
	}
	hw.sig, hw.at, hw.parts = string(sig), now, len(parts)
}

// readHealth reads instance id's verdicts: all its parts, by target. nil
// and no error when it publishes none (a release before verdicts, or none
// written yet).
func readHealth(ctx context.Context, kv jetstream.KeyValue, id string) (*HealthRecord, error) {
	for try := 0; ; try++ {
		e, err := kv.Get(ctx, healthKey(id, 0))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", healthKey(id, 0), err)
		}
		rec, err := decodeHealthPart(e.Value())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", healthKey(id, 0), err)
		}
		if rec.Parts < 1 || rec.Parts > maxTargetSetBytes/targetSetPartSize {
			return nil, fmt.Errorf("%s: %d parts", healthKey(id, 0), rec.Parts)
		}
		mixed := false
		for i := 1; i < rec.Parts; i++ {
			e, err := kv.Get(ctx, healthKey(id, i))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", healthKey(id, i), err)
			}
			p, err := decodeHealthPart(e.Value())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", healthKey(id, i), err)
			}
			mixed = mixed || !p.At.Equal(rec.At)
			rec.Targets = append(rec.Targets, p.Targets...)
		}
		// A write under way mixes two records' parts: read once more, then
		// take what is there (each verdict stands alone).
		if !mixed || try > 0 {
			slices.SortStableFunc(rec.Targets, func(a, b TargetVerdict) int { return strings.Compare(a.Target, b.Target) })
			rec.Targets = slices.CompactFunc(rec.Targets, func(a, b TargetVerdict) bool { return a.Target == b.Target })
			rec.Part = 0
			return &rec, nil
		}
	}
}

// find returns the verdict on target, and whether the record lists it.
func (r *HealthRecord) find(target string) (TargetVerdict, bool) {
	i, ok := slices.BinarySearchFunc(r.Targets, target, func(v TargetVerdict, t string) int { return strings.Compare(v.Target, t) })
	if !ok {
		return TargetVerdict{}, false
	}
	return r.Targets[i], true
}
