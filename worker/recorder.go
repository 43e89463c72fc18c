package worker

import (
	"context"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Recorder stores the records of jobs that could not be delivered. Each call
// returns only once JetStream accepted the record; msgID makes a second
// publish of the same record (after a crash) a duplicate.
type Recorder interface {
	DeadLetter(ctx context.Context, rec *schemas.DeadLetter, msgID string) error
	Fallback(ctx context.Context, rec *schemas.Fallback, msgID string) error
}
