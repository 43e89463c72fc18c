package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func newTestConsole(t *testing.T, token string, loopback bool) *Console {
	t.Helper()
	c, err := New(nil, testTopo, fakeBackend{targets: []TargetState{{Name: "a"}}}, NewFigures(FigureSettings{}), tokenAuth(token), Settings{}, WithLoopback(loopback))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serve(c *Console, method, path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	return w
}

// TestConsoleAccessBeyondLoopback: beyond loopback nothing but the login
// page and the static files is served without the token; the bearer token
// reads and acts.
func TestConsoleAccessBeyondLoopback(t *testing.T) {
	c := newTestConsole(t, "tok", false)
	for _, p := range []string{"/ui/", "/ui/dlq", "/ui/dlq/1", "/ui/targets/a", "/ui/fallbacks", "/ui/fleet", "/ui/audit", "/ui/jobs/x"} {
		if w := serve(c, http.MethodGet, p, nil); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/ui/login") {
			t.Errorf("GET %s without the token: %d %s, want a redirect to the login", p, w.Code, w.Header().Get("Location"))
		}
	}
	for _, p := range []string{"/ui/api/overview", "/ui/overview.part", "/ui/api/jobs/x"} {
		if w := serve(c, http.MethodGet, p, nil); w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), `"targets"`) {
			t.Errorf("GET %s without the token: %d, want 401", p, w.Code)
		}
	}
	if w := serve(c, http.MethodGet, "/ui/api/overview", nil, "Authorization", "Bearer nope"); w.Code != http.StatusUnauthorized {
		t.Errorf("a wrong bearer token reads: %d", w.Code)
	}
	if w := serve(c, http.MethodGet, "/ui/api/overview", nil, "Authorization", "Bearer tok"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"target":"a"`) {
		t.Errorf("the bearer token does not read: %d %s", w.Code, w.Body.String())
	}
	for _, p := range []string{"/ui/login", "/ui/static/console.js", "/ui/static/console.css"} {
		if w := serve(c, http.MethodGet, p, nil); w.Code != http.StatusOK {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}
	if w := serve(c, http.MethodPost, "/ui/targets/a/pause", url.Values{}, "Authorization", "Bearer tok"); w.Code != http.StatusOK {
		t.Errorf("pause with the bearer token: %d %s", w.Code, w.Body.String())
	}
	if h := serve(c, http.MethodGet, "/ui/login", nil).Header(); !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: %v", h)
	}
}

// TestConsoleActionsNeedAToken: without http.token (loopback) the pages
// read, and every action is refused.
func TestConsoleActionsNeedAToken(t *testing.T) {
	c := newTestConsole(t, "", true)
	if w := serve(c, http.MethodGet, "/ui/", nil); w.Code != http.StatusOK {
		t.Fatalf("overview on loopback: %d", w.Code)
	}
	for _, p := range []string{"/ui/targets/a/pause", "/ui/targets/a/resume", "/ui/dlq/replay", "/ui/dlq/purge", "/ui/jobs/x/cancel"} {
		if w := serve(c, http.MethodPost, p, url.Values{"target": {"a"}}); w.Code != http.StatusForbidden {
			t.Errorf("POST %s without a token configured: %d, want 403", p, w.Code)
		}
	}
}

// TestConsoleLogin: the login sets an HttpOnly SameSite=Strict cookie only
// for the token, from the console's own origin; the session then acts with
// its CSRF token.
func TestConsoleLogin(t *testing.T) {
	c := newTestConsole(t, "tok", false)
	if w := serve(c, http.MethodPost, "/ui/login", url.Values{"token": {"tok"}}, "Origin", "http://evil.example"); w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Errorf("cross-origin login: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	if w := serve(c, http.MethodPost, "/ui/login", url.Values{"token": {"nope"}}); w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Errorf("wrong token: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	w := serve(c, http.MethodPost, "/ui/login", url.Values{"token": {"tok"}, "next": {"//evil.example/"}})
	ck := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/" || len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/ui/" {
		t.Fatalf("login: %d %q %+v", w.Code, w.Header().Get("Location"), ck)
	}
	cookie := ck[0].Name + "=" + ck[0].Value
	page := serve(c, http.MethodGet, "/ui/targets/a", nil, "Cookie", cookie).Body.String()
	i := strings.Index(page, `name="csrf" value="`)
	if i < 0 {
		t.Fatalf("no CSRF field on the target page")
	}
	csrf := page[i+len(`name="csrf" value="`):]
	csrf = csrf[:strings.IndexByte(csrf, '"')]
	if w := serve(c, http.MethodPost, "/ui/targets/a/resume", url.Values{"csrf": {"forged"}}, "Cookie", cookie); w.Code != http.StatusForbidden {
		t.Errorf("a forged CSRF token: %d, want 403", w.Code)
	}
	if w := serve(c, http.MethodPost, "/ui/targets/a/resume", url.Values{"csrf": {csrf}}, "Cookie", cookie, "Sec-Fetch-Site", "same-site"); w.Code != http.StatusForbidden {
		t.Errorf("same-site, not same-origin: %d, want 403", w.Code)
	}
	if w := serve(c, http.MethodPost, "/ui/targets/a/resume", url.Values{"csrf": {csrf}}, "Cookie", cookie, "Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"); w.Code != http.StatusSeeOther {
		t.Errorf("resume with the session: %d %s", w.Code, w.Body.String())
	}
	// Another token (a reload) ends the session.
	c.auth = tokenAuth("other")
	if w := serve(c, http.MethodPost, "/ui/targets/a/resume", url.Values{"csrf": {csrf}}, "Cookie", cookie); w.Code != http.StatusUnauthorized {
		t.Errorf("a session of the old token acts: %d", w.Code)
	}
}
