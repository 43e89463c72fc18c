package client

import (
	"errors"
	"fmt"
)

// Sentinel errors. The errors this package returns wrap one of them, so
// callers test with errors.Is; a bad job also matches schemas.ErrInvalidJob.
var (
	// ErrInvalidOption is wrapped by an Option given a value it cannot use.
	ErrInvalidOption = errors.New("invalid option")
	// ErrNoTarget is wrapped when a job names no target and none was given.
	ErrNoTarget = errors.New("no target")
	// ErrTargetMismatch is wrapped when a job's target differs from the one
	// it is published for.
	ErrTargetMismatch = errors.New("target mismatch")
	// ErrTooLarge is wrapped when a job is over the server's max payload.
	ErrTooLarge = errors.New("job too large")
	// ErrNotPublished is wrapped when JetStream did not acknowledge a job.
	ErrNotPublished = errors.New("job not published")
	// ErrNoStream is wrapped when no stream stores the jobs subjects.
	ErrNoStream = errors.New("no jobs stream")
)

// LineError is the error of one line of NDJSON input.
// errors.Is(err, ErrInvalidJob-like sentinels) looks through it to Err.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// Err says what is wrong with the line or why it was not published.
	Err error
}

// Error reads like "line 17: invalid job: not JSON: ...".
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the line's error.
func (e *LineError) Unwrap() error { return e.Err }
