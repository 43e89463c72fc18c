package deadletter

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Store reads, replays and deletes the dead letters of one subject prefix.
// It is safe for concurrent use.
type Store struct {
	js     jetstream.JetStream
	topo   schemas.Topology
	stream string
	// fallback is true for a store of fallback records (NewFallbackStore):
	// it reads <prefix>.fallback.<target> and replays nothing.
	fallback bool
}

// NewStore returns a Store for the dead-letter stream named stream (e.g.
// DISPATCH_DLQ) holding the subjects <prefix>.dlq.<target>.
func NewStore(js jetstream.JetStream, prefix, stream string) *Store {
	return &Store{js: js, topo: schemas.Topology{Prefix: prefix}, stream: stream}
}

// NewFallbackStore returns a Store for the fallback stream named stream
// (e.g. DISPATCH_FALLBACK) holding the subjects <prefix>.fallback.<target>.
// It lists, pages, gets and purges fallback records as a Store does dead
// letters (Record.Fallback decodes one); Replay refuses every record.
func NewFallbackStore(js jetstream.JetStream, prefix, stream string) *Store {
	return &Store{js: js, topo: schemas.Topology{Prefix: prefix}, stream: stream, fallback: true}
}

// Stream is the name of the dead-letter stream.
func (s *Store) Stream() string { return s.stream }

// handle returns the stream, wrapping ErrNoStream when it does not exist.
func (s *Store) handle(ctx context.Context) (jetstream.Stream, error) {
	st, err := s.js.Stream(ctx, s.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: stream %s does not exist (the service creates it at start; check --subject-prefix)", ErrNoStream, s.stream)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.stream, err)
	}
	return st, nil
}

// subjects returns the subjects a filter reads: one per target, or all.
func (s *Store) subjects(f *Filter) []string {
	if len(f.Targets) == 0 {
		if s.fallback {
			return []string{s.topo.FallbackWildcard()}
		}
		return []string{s.topo.DLQWildcard()}
	}
	out := make([]string, 0, len(f.Targets))
	for _, t := range f.Targets {
		if s.fallback {
			out = append(out, s.topo.FallbackSubject(t))
		} else {
			out = append(out, s.topo.DLQSubject(t))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// targetOf is the target part of a record's subject; ok is false for a
// subject of another kind of record.
func (s *Store) targetOf(subject string) (string, bool) {
	if s.fallback {
		return s.topo.FallbackTarget(subject)
	}
	return s.topo.DLQTarget(subject)
}
