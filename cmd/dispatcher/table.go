package main

import (
	"bufio"
	"io"
	"strings"
	"unicode/utf8"
)

// table is a human table: a header row and rows of cells, columns padded to
// their widest cell and separated by two spaces.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write prints the table, each line cut to width runes (0: no limit) with
// "…"; the last column, the one most likely long, is the one that goes.
func (t *table) write(w io.Writer, width int) error {
	widths := make([]int, len(t.head))
	for _, row := range append([][]string{t.head}, t.rows...) {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(clean(c)))
		}
	}
	bw := bufio.NewWriter(w)
	var line strings.Builder
	for _, row := range append([][]string{t.head}, t.rows...) {
		line.Reset()
		for i, c := range row {
			c = clean(c)
			line.WriteString(c)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		bw.WriteString(cut(strings.TrimRight(line.String(), " "), width))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// clean keeps a cell on one line.
func clean(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// cut shortens s to width runes, ending in "…" when cut; 0 means no limit.
func cut(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	if width == 1 {
		return "…"
	}
	n := 0
	for i := range s {
		if n == width-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
