package console

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// page is one page's template set: the layout and the page.
type page struct {
	t     *template.Template
	title string
}

// pageTitles are the pages and their titles; each is
// templates/<name>.html, rendered inside templates/layout.html.
var pageTitles = map[string]string{
	"overview": "Overview", "target": "Target", "deadletters": "Dead letters", "deadletter": "Dead letter",
	"job": "Replay", "purge": "Purge", "fallbacks": "Fallbacks", "fallback": "Fallback", "fleet": "Fleet",
	"audit": "Audit", "login": "Log in", "message": "Console",
}

var funcs = template.FuncMap{
	"show":      show,
	"showLines": showLines,
	"when":      when,
	"ago":       ago,
	"dur":       dur,
	"ms":        ms,
	"num":       num,
	"pct":       pct,
	"rate":      rate,
	"state":     stateClass,
	"join":      strings.Join,
	"add":       func(a, b int) int { return a + b },
}

func parsePages() (map[string]*page, error) {
	out := map[string]*page{}
	for name, title := range pageTitles {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/lists.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		out[name] = &page{t: t, title: title}
	}
	return out, nil
}

// view is what the layout gets.
type view struct {
	Title  string
	Nav    string
	Who    string
	CanAct bool // logged in, or a bearer
	Login  bool // a login form is offered
	CSRF   string
	PollMS int64
	Data   any
}

func (c *Console) view(name string, a access, data any) view {
	v := view{Title: c.pages[name].title, Nav: name, Who: a.who, CanAct: a.act, Data: data, PollMS: c.set.PollEvery.Milliseconds()}
	if a.sess != nil {
		v.CSRF = a.sess.csrf
	}
	v.Login = a.sess == nil && !a.bearer && c.auth.TokenDigest() != nil
	return v
}

// render writes page name with data, status first.
func (c *Console) render(w http.ResponseWriter, _ *http.Request, status int, name string, a access, data any) {
	var buf bytes.Buffer
	if err := c.pages[name].t.ExecuteTemplate(&buf, "layout.html", c.view(name, a, data)); err != nil {
		c.log.Error("console render", zap.String("page", name), zap.Error(err))
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderPart writes the template part of page name alone (a refresh).
func (c *Console) renderPart(w http.ResponseWriter, name, part string, a access, data any) {
	var buf bytes.Buffer
	if err := c.pages[name].t.ExecuteTemplate(&buf, part, c.view(name, a, data)); err != nil {
		c.log.Error("console render", zap.String("page", name), zap.Error(err))
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// message is the data of the message page.
type message struct {
	Heading, Text string
	Back          string
}

// refuse answers with status and a page saying why.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, a access, status int, why string) {
	if strings.HasPrefix(r.URL.Path, "/ui/api/") || r.Header.Get("Accept") == "application/json" {
		http.Error(w, why, status)
		return
	}
	c.render(w, r, status, "message", a, message{Heading: http.StatusText(status), Text: why, Back: Prefix})
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return dur(time.Since(t)) + " ago"
}

// dur is a duration to a second, or to a millisecond under a second.
func dur(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

func ms(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < 10*time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}

func num(v any) string {
	switch x := v.(type) {
	case float64:
		switch {
		case x == 0:
			return "0"
		case math.Abs(x) >= 100:
			return strconv.FormatFloat(x, 'f', 0, 64)
		case math.Abs(x) >= 10:
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		return strconv.FormatFloat(x, 'f', 2, 64)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int:
		return strconv.Itoa(x)
	}
	return fmt.Sprint(v)
}

func pct(f float64) string {
	if f < 0 {
		return "—"
	}
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

func rate(f float64) string {
	if f == 0 {
		return "unlimited"
	}
	return num(f) + "/s"
}

// stateClass is the CSS class of a health state or breaker state.
func stateClass(s string) string {
	switch strings.ToUpper(s) {
	case "OK", "CLOSED":
		return "ok"
	case "GROWING", "HALF_OPEN", "PARTIAL":
		return "warn"
	case "STALLED", "OPEN", "STOPPED", "FAILED":
		return "bad"
	case "HELD", "PAUSED":
		return "paused"
	}
	return "unknown"
}
