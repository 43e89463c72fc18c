package main

import "github.com/jetdispatch/dispatcher/schemas"

// Text that reaches a terminal from a job, a subject or a record is the
// publisher's: a job id, a target token, an error, a raw payload may carry
// escape sequences (ESC [ …, OSC 8 links, OSC 52 clipboard writes), a bell,
// a carriage return or backspaces that overwrite what was printed, C1
// controls, or bidi overrides that reorder a line. Every human output path
// (tables, dlq show, lag, notes, error lines) passes such text through
// escape, which shows those characters instead of letting the terminal act
// on them. --json output is not escaped: JSON has its own escaping and
// scripts need the exact bytes.

// escape renders s for a terminal on one line (schemas.Printable).
func escape(s string) string { return schemas.Printable(s, false) }

// escapeLines is escape that keeps line breaks ('\n'), for text shown on
// several lines such as an indented job or a multi-line error.
func escapeLines(s string) string { return schemas.Printable(s, true) }
