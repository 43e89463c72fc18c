package console

import (
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

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

// TestPagesShowRecordText renders pages whose record, header and fleet
// text carries a terminal escape and a bidi override: every such value
// reaches the page through show.
func TestPagesShowRecordText(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	c := &Console{pages: pages, auth: tokenAuth(""), log: zap.NewNop(), set: Settings{}.withDefaults()}
	const bad = "x\x1b[2J\u202ey"
	row := RecordRow{Seq: 1, Target: "t", Reason: bad, Class: bad, BreakerState: bad, Cut: []string{bad}}
	dl := &schemas.DeadLetter{History: []schemas.Attempt{{Attempt: 1, ErrorClass: bad}}}
	fl := &Fleet{Targets: []FleetTarget{{Target: bad}}, OpenBreakers: []FleetBreaker{{Target: bad, State: bad}}}
	tp := TargetPage{Row: Row{Target: "t", State: bad, Ends: []EndpointRow{{Endpoint: bad, Local: bad, FleetOpenBy: bad}}},
		Classes: []ClassCount{{Class: bad}}, Failures: []Failure{{Endpoint: bad, Class: bad}}, Transitions: []BreakerEvent{{Endpoint: bad, From: bad}}}
	for _, p := range []struct {
		name string
		data any
	}{
		{"deadletters", ListPage{Rows: []RecordRow{row}, Count: -1}},
		{"fallbacks", ListPage{Rows: []RecordRow{row}, Count: -1, Fallbacks: true}},
		{"deadletter", RecordPage{Row: row, DL: dl}},
		{"fallback", RecordPage{Row: row}},
		{"audit", AuditPage{Entries: []AuditRow{{Record: schemas.AuditRecord{Action: bad, Result: bad}}}}},
		{"fleet", FleetPage{Fleet: fl}},
		{"target", tp},
		{"overview", Overview{Rows: []Row{tp.Row}}},
	} {
		w := httptest.NewRecorder()
		c.render(w, httptest.NewRequest("GET", "/ui/", nil), 200, p.name, access{read: true}, p.data)
		body := w.Body.String()
		if w.Code != 200 || strings.ContainsAny(body, "\x1b\u202e") || !strings.Contains(body, `x\x1b[2J\u202ey`) {
			t.Errorf("%s: status %d, the text not shown escaped:\n%s", p.name, w.Code, body)
		}
	}
}
