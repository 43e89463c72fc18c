package console

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// html/template escapes what HTML would act on (<, >, &, quotes); what a
// record holds may also carry terminal escapes, other controls and bidi
// overrides that reorder a line. show renders those the way Go quotes them
// (\x1b, \u202e) and bytes that are not UTF-8 as \xNN, so that a page shows
// them as text. Templates pass every value that comes from a job, a record
// or an operator through show.

// show renders s on one line; showLines keeps its line breaks.
func show(s string) string { return printable(s, false) }

func showLines(s string) string { return printable(s, true) }

func printable(s string, newlines bool) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !shown(r, size, newlines) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
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
