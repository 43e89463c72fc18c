package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jetdispatch/dispatcher/deadletter"
)

// hostileTerminalText lists what a publisher may put in a job id, a subject
// token, an error or a payload to act on the operator's terminal, and how
// each must be shown.
var hostileTerminalText = []struct {
	name, in, want string
}{
	{"plain", "ord-1001 503 Service Unavailable", "ord-1001 503 Service Unavailable"},
	{"unicode kept", "héllo wörld 😀 日本", "héllo wörld 😀 日本"},
	{"backslash kept", `{"a":"\u001b"}`, `{"a":"\u001b"}`},
	{"CSI colour and clear screen", "\x1b[31mred\x1b[2J", `\x1b[31mred\x1b[2J`},
	{"OSC 8 hyperlink", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", `\x1b]8;;https://evil.example\x1b\click\x1b]8;;\x1b\`},
	{"OSC 52 clipboard write", "\x1b]52;c;ZWNobyBwd25lZA==\a", `\x1b]52;c;ZWNobyBwd25lZA==\a`},
	{"carriage return overwrites the line", "ok\rFAILED", `ok\rFAILED`},
	{"backspaces", "secret\b\b\b\b\b\bpublic", `secret\b\b\b\b\b\bpublic`},
	{"newline and tab", "a\nb\tc", `a\nb\tc`},
	{"NUL and DEL", "a\x00b\x7fc", `a\x00b\x7fc`},
	{"C1 CSI and NEL", "a\u009b31mb\u0085c", `a\u009b31mb\u0085c`},
	{"bidi override", "invoice\u202egpj.exe", `invoice\u202egpj.exe`},
	{"bidi isolates", "\u2066a\u2067b\u2068c\u2069", `\u2066a\u2067b\u2068c\u2069`},
	{"zero width and BOM", "a\u200bb\ufeffc", `a\u200bb\ufeffc`},
	{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
}

// TestEscape: control characters, C1 controls, bidi and other invisible
// format characters and invalid UTF-8 that a publisher put in a record are
// shown as Go escapes, never written for the terminal to act on; printable
// text, unicode included, is unchanged.
func TestEscape(t *testing.T) {
	for _, tt := range hostileTerminalText {
		t.Run(tt.name, func(t *testing.T) {
			got := escape(tt.in)
			if got != tt.want {
				t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
			assertInert(t, got, false)
		})
	}
	if got := escapeLines("a\x1b[1m\nb\rc\n"); got != "a\\x1b[1m\nb\\rc\n" {
		t.Errorf("escapeLines: %q", got)
	}
}

// TestTableEscapes: a table shows hostile cells escaped and pads its
// columns to the escaped form, so the columns after them stay aligned.
func TestTableEscapes(t *testing.T) {
	tb := &table{head: []string{"TARGET", "JOB ID", "ERROR"}}
	tb.add("a\x1b[2Jb", "\u202eid", "x")
	tb.add("plain", "id", "y")
	var buf bytes.Buffer
	_ = tb.write(&buf, 0)
	assertInert(t, buf.String(), true)
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	col := func(line, s string) int { return utf8.RuneCountInString(line[:strings.LastIndex(line, s)]) }
	if col(lines[1], "x") != col(lines[0], "ERROR") || col(lines[2], "y") != col(lines[0], "ERROR") {
		t.Errorf("columns not aligned on the escaped cells:\n%s", buf.String())
	}
	if !strings.Contains(lines[1], `a\x1b[2Jb  `) || !strings.Contains(lines[1], `\u202eid`) {
		t.Errorf("cells not escaped:\n%s", buf.String())
	}
}

// TestShowRecordEscapes: dlq show of a record whose subject, job, error,
// history and raw payload carry escape sequences and bidi overrides prints
// none of them for the terminal to act on.
func TestShowRecordEscapes(t *testing.T) {
	evil := "\x1b]8;;https://evil.example\x07\u202e\u009b2J\x7f"
	recs := []*deadletter.Record{
		{Seq: 3, Time: time.Now(), Subject: "dispatch.dlq.t" + evil, Target: "t" + evil, JobID: "j" + evil,
			Data: []byte(`{"job":{"id":"j","body":{"note":"` + evil + `"},"meta":{"m":"` + evil + `"}},"raw":null,"target":"t","reason":"non_retryable",` +
				`"error":"400 ` + "\u202e" + `","history":[{"attempt":1,"at":"2026-11-26T09:00:00Z","endpoint":"http://e","status":400,"error":"x\u001b[2Jy\r"}],` +
				`"dead_at":"2026-11-26T09:00:31Z"}`)},
		{Seq: 4, Time: time.Now(), Subject: "dispatch.dlq.t", Target: "t",
			Data: []byte(`{"job":null,"raw":"` + "G1sySgdoaQ==" + `","target":"t","reason":"invalid","dead_at":"2026-11-26T09:00:31Z"}`)},
		{Seq: 5, Time: time.Now(), Subject: "dispatch.dlq.t", Target: "t", Data: []byte("not json " + evil)},
	}
	for _, r := range recs {
		var buf bytes.Buffer
		if err := showRecord(&buf, r); err != nil {
			t.Fatal(err)
		}
		assertInert(t, buf.String(), true)
		if !strings.Contains(buf.String(), `\x1b`) {
			t.Errorf("record %d: the escape sequence is not shown:\n%s", r.Seq, buf.String())
		}
	}
}

// assertInert fails t when s holds a byte or rune a terminal acts on: C0
// controls (but '\n' when lines are allowed), DEL, C1 controls, bidi
// controls, or invalid UTF-8.
func assertInert(t *testing.T, s string, lines bool) {
	t.Helper()
	if r, ok := firstActive(s, lines); ok {
		t.Errorf("output holds %U:\n%q", r, s)
	}
}

// firstActive returns the first rune of s a terminal would act on.
func firstActive(s string, lines bool) (rune, bool) {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return r, true
		case r == '\n' && lines:
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f),
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
			return r, true
		}
	}
	return 0, false
}
