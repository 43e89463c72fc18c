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

	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// Pausing a target is fleet state: the <b>_pauses KV bucket holds one key
// per paused target, its name, with a TargetPause. Every instance watches
// the bucket (fleet_pauses.go) and pauses or resumes its worker of the
// target (worker.Pause): a put pauses, a delete resumes, and a pause with
// an end resumes by itself there, whatever becomes of the key. Pause and
// Resume write the bucket and append the action to the audit stream; the
// command line and the console call them.

// ErrInvalidPause is wrapped by Pause and Resume for arguments they refuse:
// a name that is no target's, an end that has passed, no who.
var ErrInvalidPause = errors.New("dispatcher: invalid pause")

// ErrNotAudited is wrapped by an action (Pause, Resume) that was done but
// whose audit record could not be stored: the action stands.
var ErrNotAudited = errors.New("dispatcher: done, but the audit record was not stored")

// maxPauseReason bounds a pause's reason, in bytes.
const maxPauseReason = 1024

// TargetPause is a paused target's record in <b>_pauses, under the key
// Target.
type TargetPause struct {
	Target string `json:"target"`
	// Until is when the pause ends; nil: when the target is resumed.
	Until *time.Time `json:"until,omitempty"`
	// By is who paused it (audit record's who), At when.
	By string    `json:"by"`
	At time.Time `json:"at"`
	// Reason is what the operator said.
	Reason string `json:"reason,omitempty"`
}

// ActiveAt reports whether the pause holds at now.
func (p TargetPause) ActiveAt(now time.Time) bool { return p.Until == nil || now.Before(*p.Until) }

// worker is the pause as a worker takes it.
func (p TargetPause) worker() worker.Pause {
	wp := worker.Pause{Since: p.At}
	if p.Until != nil {
		wp.Until = *p.Until
	}
	return wp
}

// pausesBucket creates (or updates) the pauses bucket: history 1, no TTL
// (a pause without an end lasts until resumed).
func pausesBucket(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, pausesConfig(topo, replicas))
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", topo.PausesBucket(), err)
	}
	return kv, nil
}

func pausesConfig(topo schemas.Topology, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket: topo.PausesBucket(), Description: "dispatcher paused targets (dispatcher pause)",
		History: 1, Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	}
}

// openPauses opens the pauses bucket, creating it (one replica) when no
// service of this version has run yet; the service sets its replicas at
// its next start.
func openPauses(ctx context.Context, js jetstream.JetStream, topo schemas.Topology) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, topo.PausesBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, pausesConfig(topo, 1))
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, topo.PausesBucket())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", topo.PausesBucket(), err)
	}
	return kv, nil
}

// Pause pauses target for the whole fleet until until (zero: until Resume),
// as who, with reason, and appends the action to the audit stream (who, the
// target, until, reason; result failed, with the error, when the pause
// could not be stored). Pausing a paused target replaces its pause. A
// target no live instance serves may be paused: the instances that serve
// it later take the pause at their start. It returns the record stored; an
// error wrapping ErrNotAudited means the target is paused all the same.
func Pause(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, target string, until time.Time, who, reason string) (TargetPause, error) {
	now := time.Now().UTC()
	rec := TargetPause{Target: target, By: who, At: now, Reason: reason}
	if !until.IsZero() {
		u := until.UTC()
		rec.Until = &u
	}
	switch {
	case !schemas.ValidTarget(target):
		return rec, fmt.Errorf("%w: %q is not a target name (^[A-Za-z0-9_-]{1,64}$)", ErrInvalidPause, target)
	case who == "":
		return rec, fmt.Errorf("%w: no who", ErrInvalidPause)
	case !until.IsZero() && !until.After(now):
		return rec, fmt.Errorf("%w: the end %s has passed", ErrInvalidPause, until.UTC().Format(time.RFC3339))
	case len(reason) > maxPauseReason:
		return rec, fmt.Errorf("%w: the reason is %d bytes, at most %d", ErrInvalidPause, len(reason), maxPauseReason)
	}
	entry := schemas.AuditRecord{
		At: now, Who: who, Action: schemas.AuditPause, Selection: schemas.AuditSelection{Target: target},
		Count: 1, Result: schemas.AuditOK, Until: rec.Until, Reason: reason,
	}
	err := putPause(ctx, js, topo, rec)
	if err != nil {
		entry.Count, entry.Result, entry.Error = 0, schemas.AuditFailed, err.Error()
	}
	if _, aerr := audit.Append(ctx, js, topo, entry); aerr != nil && err == nil {
		return rec, fmt.Errorf("%w: %w", ErrNotAudited, aerr)
	}
	return rec, err
}

// putPause stores rec under its target.
func putPause(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, rec TargetPause) error {
	kv, err := openPauses(ctx, js, topo)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(rec)
	if _, err := kv.Put(ctx, rec.Target, data); err != nil {
		return fmt.Errorf("pause %s: %w", rec.Target, err)
	}
	return nil
}

// Resume resumes target for the whole fleet, as who, and appends the
// action to the audit stream (count 1 when the target was paused, 0 when
// not). It returns the pause that was in effect, nil when there was none
// (a pause whose end has passed counts as none; its key is removed all
// the same). An error wrapping ErrNotAudited means the target is resumed
// all the same.
func Resume(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, target, who string) (*TargetPause, error) {
	switch {
	case !schemas.ValidTarget(target):
		return nil, fmt.Errorf("%w: %q is not a target name (^[A-Za-z0-9_-]{1,64}$)", ErrInvalidPause, target)
	case who == "":
		return nil, fmt.Errorf("%w: no who", ErrInvalidPause)
	}
	now := time.Now().UTC()
	was, err := deletePause(ctx, js, topo, target, now)
	entry := schemas.AuditRecord{At: now, Who: who, Action: schemas.AuditResume, Selection: schemas.AuditSelection{Target: target}, Result: schemas.AuditOK}
	if was != nil {
		entry.Count = 1
	}
	if err != nil {
		entry.Count, entry.Result, entry.Error = 0, schemas.AuditFailed, err.Error()
	}
	if _, aerr := audit.Append(ctx, js, topo, entry); aerr != nil && err == nil {
		return was, fmt.Errorf("%w: %w", ErrNotAudited, aerr)
	}
	return was, err
}

// deletePause deletes target's key and returns its pause when it held at
// now.
func deletePause(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, target string, now time.Time) (*TargetPause, error) {
	kv, err := js.KeyValue(ctx, topo.PausesBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", topo.PausesBucket(), err)
	}
	e, err := kv.Get(ctx, target)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", target, err)
	}
	var was *TargetPause
	var p TargetPause
	if json.Unmarshal(e.Value(), &p) == nil && p.ActiveAt(now) {
		was = &p
	}
	if err := kv.Delete(ctx, target); err != nil {
		return nil, fmt.Errorf("resume %s: %w", target, err)
	}
	return was, nil
}

// ReadPauses reads the pauses in effect at now, sorted by target; none
// when the bucket does not exist.
func ReadPauses(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, now time.Time) ([]TargetPause, error) {
	recs, err := readAll[TargetPause](ctx, js, topo.PausesBucket())
	if err != nil {
		return nil, err
	}
	var out []TargetPause
	for _, r := range recs {
		if r.v.Target != "" && r.v.ActiveAt(now) {
			out = append(out, r.v)
		}
	}
	slices.SortFunc(out, func(a, b TargetPause) int { return strings.Compare(a.Target, b.Target) })
	return out, nil
}
