package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetdispatch/dispatcher/schemas"
)

// DefaultMaxAge is the audit stream's max age when streams.audit_max_age
// is not set: 90 days.
const DefaultMaxAge = 2160 * time.Hour

// ErrInvalidRecord is wrapped by Append for a record that breaks
// audit.v1.schema.json: no who, an unknown action or result, a bad target.
var ErrInvalidRecord = errors.New("audit: invalid record")

// StreamConfig is the audit stream of topology t: Limits retention, records
// older than maxAge (zero: DefaultMaxAge) dropped, replicas copies.
func StreamConfig(t schemas.Topology, maxAge time.Duration, replicas int) jetstream.StreamConfig {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return jetstream.StreamConfig{
		Name:        t.AuditStream(),
		Description: "dispatcher audit: what operators did (pause, resume, replay, purge)",
		Subjects:    []string{t.AuditWildcard()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		MaxAge:      maxAge,
		Duplicates:  2 * time.Minute,
		AllowDirect: true,
	}
}

// Append stores rec on <p>.audit.<action> and returns it as stored: ID and
// At are filled when empty. When the audit stream does not exist (no
// service of this version has run against the server), Append creates it
// with StreamConfig's defaults first; the service sets its own max age and
// replicas at its next start.
func Append(ctx context.Context, js jetstream.JetStream, t schemas.Topology, rec schemas.AuditRecord) (schemas.AuditRecord, error) {
	if rec.ID == "" {
		rec.ID = nuid.Next()
	}
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	rec.At = rec.At.UTC()
	if err := check(rec); err != nil {
		return rec, err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return rec, fmt.Errorf("audit: %w", err)
	}
	m := nats.NewMsg(t.AuditSubject(rec.Action))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, rec.ID)
	_, err = js.PublishMsg(ctx, m)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		if _, cerr := js.CreateStream(ctx, StreamConfig(t, 0, 1)); cerr != nil && !errors.Is(cerr, jetstream.ErrStreamNameAlreadyInUse) {
			return rec, fmt.Errorf("audit: no stream %s, and creating it failed: %w", t.AuditStream(), cerr)
		}
		_, err = js.PublishMsg(ctx, m)
	}
	if err != nil {
		return rec, fmt.Errorf("audit: store on %s: %w", t.AuditSubject(rec.Action), err)
	}
	return rec, nil
}

// check holds rec to the rules of audit.v1.schema.json that a caller can
// break.
func check(rec schemas.AuditRecord) error {
	switch {
	case rec.Who == "":
		return fmt.Errorf("%w: no who", ErrInvalidRecord)
	case !slices.Contains(schemas.AuditActions, rec.Action):
		return fmt.Errorf("%w: action %q: want one of %v", ErrInvalidRecord, rec.Action, schemas.AuditActions)
	case !slices.Contains(schemas.AuditResults, rec.Result):
		return fmt.Errorf("%w: result %q: want one of %v", ErrInvalidRecord, rec.Result, schemas.AuditResults)
	case rec.Selection.Target != "" && !schemas.ValidTarget(rec.Selection.Target):
		return fmt.Errorf("%w: target %q", ErrInvalidRecord, rec.Selection.Target)
	case rec.Count < 0 || rec.Selected < 0:
		return fmt.Errorf("%w: negative count", ErrInvalidRecord)
	}
	return nil
}

// CLI is who the command line acts as: "cli:<user>@<host>", the user and
// host of the process ("unknown" when not known).
func CLI() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	} else if v := os.Getenv("USER"); v != "" {
		name = v
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return "cli:" + name + "@" + host
}
