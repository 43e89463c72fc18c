package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCut(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  string
	}{
		{"hello", 0, "hello"},
		{"hello", 5, "hello"},
		{"hello", 4, "hel…"},
		{"héllo wörld", 6, "héllo…"},
		{"hello", 1, "…"},
	}
	for _, tt := range tests {
		if got := cut(tt.in, tt.width); got != tt.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}

func TestTableWrite(t *testing.T) {
	tb := &table{head: []string{"SEQ", "TARGET", "ERROR"}}
	tb.add("1", "alpha", "503 Service Unavailable")
	tb.add("12", "bravo", "line one\nline two")
	var buf bytes.Buffer
	if err := tb.write(&buf, 0); err != nil {
		t.Fatal(err)
	}
	want := "SEQ  TARGET  ERROR\n1    alpha   503 Service Unavailable\n12   bravo   line one line two\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	_ = tb.write(&buf, 20)
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		if utf8.RuneCountInString(line) > 20 {
			t.Errorf("line %q over 20 runes", line)
		}
	}
	if !strings.Contains(buf.String(), "503 Se…") {
		t.Errorf("the last column is not the one cut:\n%s", buf.String())
	}
}
