package deadletter

import (
	"errors"
	"fmt"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Sentinel errors of the Store. Errors it returns wrap one of them (or
// ErrNotStored for a record JetStream did not accept), so callers test with
// errors.Is.
var (
	// ErrNoStream is wrapped when the dead-letter stream does not exist.
	ErrNoStream = errors.New("no dead-letter stream")
	// ErrNotFound is wrapped when a sequence holds no dead letter.
	ErrNotFound = errors.New("no such dead letter")
	// ErrInvalidFilter is wrapped when a Filter cannot select anything
	// sensible (a malformed target, since after until, a negative limit).
	ErrInvalidFilter = errors.New("invalid filter")
	// ErrNotReplayable is wrapped when a dead letter holds no job that can
	// be published again.
	ErrNotReplayable = errors.New("not replayable")
	// ErrTooLarge is wrapped when the Writer cannot cut a record small
	// enough for the server (its max payload, or the stream's
	// max_msg_size): a refusal no retry or redelivery can change, unlike
	// ErrNotStored alone. It is schemas.ErrTooLarge, so that a worker,
	// which does not import this package, can test for it too.
	ErrTooLarge = schemas.ErrTooLarge
)

// NotReplayableError says why the dead letter at Seq cannot be replayed.
// errors.Is(err, ErrNotReplayable) holds for it.
type NotReplayableError struct {
	Seq    uint64
	Reason string
}

// Error reads like "dead letter 12: not replayable: the job could not be decoded".
func (e *NotReplayableError) Error() string {
	return fmt.Sprintf("dead letter %d: %v: %s", e.Seq, ErrNotReplayable, e.Reason)
}

// Is reports whether target is ErrNotReplayable.
func (e *NotReplayableError) Is(target error) bool { return target == ErrNotReplayable }
