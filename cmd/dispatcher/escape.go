package main

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text that reaches a terminal from a job, a subject or a record is the
// publisher's: a job id, a target token, an error, a raw payload may carry
// escape sequences (ESC [ …, OSC 8 links, OSC 52 clipboard writes), a bell,
// a carriage return or backspaces that overwrite what was printed, C1
// controls, or bidi overrides that reorder a line. Every human output path
// (tables, dlq show, lag, notes, error lines) passes such text through
// escape, which shows those characters instead of letting the terminal act
// on them. --json output is not escaped: JSON has its own escaping and
// scripts need the exact bytes.

// escape renders s for a terminal on one line: every rune strconv.IsPrint
// accepts (letters, marks, numbers, punctuation, symbols, the ASCII space)
// as it is; any other rune (C0 and C1 controls, DEL, bidi and other format
// characters, line and paragraph separators, non-ASCII spaces) the way Go
// quotes it (\x1b, \r, \u202e); and each byte that is not valid UTF-8 as
// \xNN. A backslash is left as it is, so that JSON text reads as JSON; the
// exact bytes are in --json.
func escape(s string) string { return escapeKeeping(s, false) }

// escapeLines is escape that keeps line breaks ('\n'), for text shown on
// several lines such as an indented job or a multi-line error.
func escapeLines(s string) string { return escapeKeeping(s, true) }

func escapeKeeping(s string, newlines bool) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !shown(r, size, newlines) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s // the common case: nothing to escape
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case shown(r, size, newlines):
			b.WriteString(s[i : i+size])
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\u202e': drop the quotes
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// shown reports whether a rune of size bytes is written as it is.
func shown(r rune, size int, newlines bool) bool {
	if r == utf8.RuneError && size == 1 {
		return false
	}
	return strconv.IsPrint(r) || (newlines && r == '\n')
}
