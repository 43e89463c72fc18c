package worker

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Recorder stores the outcomes that are written before a delivery is acked:
// dead letters, fallback records and scheduled copies of a job. Each call
// returns only once JetStream accepted the write; msgID makes a second
// publish of the same record (after a crash) a duplicate. A non-nil mark is
// the delivery's settle marker (settle.go): stored with the outcome in one
// atomic batch, or not at all.
type Recorder interface {
	DeadLetter(ctx context.Context, rec *schemas.DeadLetter, msgID string, mark *nats.Msg) error
	Fallback(ctx context.Context, rec *schemas.Fallback, msgID string, mark *nats.Msg) error
	// Schedule stores m, a scheduled copy of a job (its Nats-Msg-Id set).
	Schedule(ctx context.Context, m, mark *nats.Msg) error
}
