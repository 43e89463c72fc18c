package console

import "testing"

func TestShow(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain job-1", "plain job-1"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"a\u202eb", `a\u202eb`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"two\nlines", `two\nlines`},
	} {
		if got := show(c.in); got != c.want {
			t.Errorf("show(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := showLines("two\nlines\r"); got != "two\nlines\\r" {
		t.Errorf("showLines = %q", got)
	}
}

func TestUnescapeHTML(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":"\u003cb\u003e \u0026"}`, `{"a":"<b> &"}`},
		{`{"a":"\\u003c"}`, `{"a":"\\u003c"}`},
		{`{"a":"\u001b"}`, `{"a":"\u001b"}`},
	} {
		if got := unescapeHTML(c.in); got != c.want {
			t.Errorf("unescapeHTML(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}
