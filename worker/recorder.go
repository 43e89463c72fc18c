package worker

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Recorder stores the outcomes that are written before a delivery is acked:
// dead letters, fallback records and scheduled copies of a job. Each call
// returns only once JetStream accepted the write; msgID (for a scheduled
// copy, its Nats-Msg-Id) makes a second publish of the same outcome a
// duplicate (settle.go).
type Recorder interface {
	DeadLetter(ctx context.Context, rec *schemas.DeadLetter, msgID string) error
	Fallback(ctx context.Context, rec *schemas.Fallback, msgID string) error
	Schedule(ctx context.Context, m *nats.Msg) error
}
