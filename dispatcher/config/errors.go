package config

import (
	"errors"
	"strings"
)

// ErrInvalidConfig is matched (with errors.Is) by every error that reports
// a problem in the content of a config file. Such errors are an [*Error].
var ErrInvalidConfig = errors.New("invalid config")

// ErrConfigFile is matched by the error Load returns when the file cannot be
// read. The underlying error is wrapped too, so errors.Is(err, fs.ErrNotExist)
// tells a missing file apart.
var ErrConfigFile = errors.New("cannot read config file")

// FieldError is one problem in a config file.
type FieldError struct {
	// Path is the dotted key path of the problem, such as
	// "targets.payments.retry.max_attempts" or "targets.a.endpoints[0]".
	// A key that is not made of letters, digits, '_' and '-' is quoted, as
	// in `targets."bad name"`. Path is empty for problems with the file as a
	// whole, such as a YAML syntax error.
	Path string
	// Msg says what is wrong, e.g. "must be at least 1".
	Msg string
}

// Error returns "path: msg", or msg alone when there is no path.
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Error is the error returned for a config file whose content is invalid. It
// holds every problem found, in a stable order: decoding problems in file
// order first, then validation problems.
type Error struct {
	Errors []FieldError
}

// Error returns one "path: msg" line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalidConfig.
func (e *Error) Is(target error) bool {
	return target == ErrInvalidConfig
}
