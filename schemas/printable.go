package schemas

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Printable renders text that came from a publisher (a job id, a subject
// token, an error, a payload) so that a terminal or a page shows it instead
// of acting on it: every rune strconv.IsPrint accepts (letters, marks,
// numbers, punctuation, symbols, the ASCII space) as it is, and '\n' too
// when keepNewlines; any other rune (C0 and C1 controls, DEL, bidi and other
// format characters, line and paragraph separators, non-ASCII spaces) the
// way Go quotes it (\x1b, \r, \u202e); each byte that is not valid UTF-8 as
// \xNN. A backslash is left as it is, so that JSON text reads as JSON. The
// CLI's human output and the console's pages both use it.
func Printable(s string, keepNewlines bool) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !shown(r, size, keepNewlines) {
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
		case shown(r, size, keepNewlines):
			b.WriteString(s[i : i+size])
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

func shown(r rune, size int, newlines bool) bool {
	if r == utf8.RuneError && size == 1 {
		return false
	}
	return strconv.IsPrint(r) || (newlines && r == '\n')
}
