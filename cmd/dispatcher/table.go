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
// Cells are shown as cell gives them, so the widths are those of what the
// terminal prints.
func (t *table) write(w io.Writer, width int) error {
	rows := make([][]string, 0, len(t.rows)+1)
	widths := make([]int, len(t.head))
	for _, row := range append([][]string{t.head}, t.rows...) {
		shown := make([]string, len(row))
		for i, c := range row {
			shown[i] = cell(c)
			widths[i] = max(widths[i], utf8.RuneCountInString(shown[i]))
		}
		rows = append(rows, shown)
	}
	bw := bufio.NewWriter(w)
	var line strings.Builder
	for _, row := range rows {
		line.Reset()
		for i, c := range row {
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

// cell is how a cell is shown: on one line (runs of white space, line
// breaks included, as one space) and escaped (escape.go).
func cell(s string) string {
	if strings.ContainsAny(s, "\n\r\t") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return escape(s)
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
