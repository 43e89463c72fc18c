package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestConsoleAuth: on a loopback listener the console's pages are read
// without the token; actions are refused without it (401), with a wrong
// one, with a session but no CSRF token or from another origin (403); a
// session opened with the token pauses a target for the fleet, audited
// as the client's address; the bearer token resumes it; /metrics still
// needs the token.
func TestConsoleAuth(t *testing.T) {
	t.Parallel()
	sink := testenv.NewSink(t)
	e := startConsoleService(t, testenv.M{"a": testenv.Target(sink.URL)})
	anon := browserless(t)
	if st, body := e.do(t, anon, http.MethodGet, "/ui/", nil); st != http.StatusOK || !strings.Contains(body, ">a</a>") {
		t.Fatalf("overview on loopback without the token: %d\n%.300s", st, body)
	}
	if st, _ := e.do(t, anon, http.MethodGet, "/metrics", nil); st != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", st)
	}
	pause := url.Values{"for": {"10m"}, "reason": {"maintenance"}}
	if st, _ := e.do(t, anon, http.MethodPost, "/ui/targets/a/pause", pause); st != http.StatusUnauthorized {
		t.Errorf("pause without the token: %d, want 401", st)
	}
	if st, _ := e.do(t, anon, http.MethodPost, "/ui/targets/a/pause", pause, "Authorization", "Bearer wrong"); st != http.StatusUnauthorized {
		t.Errorf("pause with a wrong token: %d, want 401", st)
	}
	if st, _ := e.do(t, anon, http.MethodPost, "/ui/login", url.Values{"token": {"wrong"}}); st != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d, want 401", st)
	}

	c := browserless(t)
	csrf := e.login(t, c)
	if st, _ := e.do(t, c, http.MethodPost, "/ui/targets/a/pause", pause); st != http.StatusForbidden {
		t.Errorf("pause with a session but no CSRF token: %d, want 403", st)
	}
	withCSRF := url.Values{"for": {"10m"}, "reason": {"maintenance"}, "csrf": {csrf}}
	if st, _ := e.do(t, c, http.MethodPost, "/ui/targets/a/pause", withCSRF, "Origin", "http://evil.example"); st != http.StatusForbidden {
		t.Errorf("pause from another origin: %d, want 403", st)
	}
	if st, _ := e.do(t, c, http.MethodPost, "/ui/targets/a/pause", withCSRF, "Sec-Fetch-Site", "cross-site"); st != http.StatusForbidden {
		t.Errorf("pause cross-site: %d, want 403", st)
	}
	if got := e.auditOf(t, schemas.AuditPause); len(got) != 0 {
		t.Fatalf("refused actions were audited: %+v", got)
	}
	if st, body := e.do(t, c, http.MethodPost, "/ui/targets/a/pause", withCSRF, "Origin", e.base, "Sec-Fetch-Site", "same-origin"); st != http.StatusSeeOther {
		t.Fatalf("pause with the session: %d %s", st, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps, err := dispatcher.ReadPauses(ctx, e.b.JS, testenv.Topo, time.Now())
	if err != nil || len(ps) != 1 || ps[0].Target != "a" || ps[0].By != "console:127.0.0.1" || ps[0].Until == nil {
		t.Fatalf("pauses = %+v, %v", ps, err)
	}
	got := e.auditOf(t, schemas.AuditPause)
	if len(got) != 1 || got[0].Who != "console:127.0.0.1" || got[0].Selection.Target != "a" || got[0].Reason != "maintenance" || got[0].Result != schemas.AuditOK {
		t.Fatalf("pause audit = %+v", got)
	}
	// The overview says it at once.
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		_, body := e.do(t, c, http.MethodGet, "/ui/api/overview", nil)
		return strings.Contains(body, `"state":"PAUSED"`), body
	})
	st, body := e.do(t, anon, http.MethodPost, "/ui/targets/a/resume", url.Values{}, "Authorization", "Bearer "+consoleToken)
	if st != http.StatusOK || !strings.Contains(body, "Resumed a") {
		t.Fatalf("resume with the bearer token: %d %s", st, body)
	}
	if got := e.auditOf(t, schemas.AuditResume); len(got) != 1 || got[0].Count != 1 || got[0].Who != "console:127.0.0.1" {
		t.Fatalf("resume audit = %+v", got)
	}
	// Logged out, the session acts no more.
	if st, _ := e.do(t, c, http.MethodPost, "/ui/logout", url.Values{"csrf": {csrf}}); st != http.StatusSeeOther {
		t.Errorf("logout: %d", st)
	}
	if st, _ := e.do(t, c, http.MethodPost, "/ui/targets/a/pause", withCSRF); st != http.StatusUnauthorized {
		t.Errorf("pause after logout: %d, want 401", st)
	}
}

var jobIDRe = regexp.MustCompile(`"job":"([^"]+)"`)

// TestConsoleDeadLetters: the dead letters page lists records newest first
// and pages on; a record whose job id holds markup and terminal escapes
// shows as text; the dry run counts; a replay by the bearer token moves
// the selected records back to the jobs stream, reports its progress and
// is audited; a purge deletes nothing until the count is typed, then
// deletes the selection and is audited.
func TestConsoleDeadLetters(t *testing.T) {
	t.Parallel()
	sink := testenv.NewSink(t)
	e := startConsoleService(t, testenv.M{"a": testenv.Target(sink.URL, testenv.M{"concurrency": 1}), "b": testenv.Target(sink.URL)})
	testenv.PutDeadLetters(t, e.b.JS, "a", ids("a", 120))
	testenv.PutDeadLetters(t, e.b.JS, "b", ids("b", 30))
	putHostileDeadLetter(t, e, "b", "<script>alert(1)</script>\x1b[2J")
	c := browserless(t)
	csrf := e.login(t, c)

	st, body := e.do(t, c, http.MethodGet, "/ui/dlq", nil)
	if st != http.StatusOK || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J") || strings.Contains(body, "<script>alert") {
		t.Fatalf("dlq page: %d; the hostile job id is not shown escaped\n%.2000s", st, body)
	}
	if !strings.Contains(body, "Next page") {
		t.Errorf("151 records on pages of 50: no next page")
	}
	st, body = e.do(t, c, http.MethodGet, "/ui/dlq?target=a&count=1", nil)
	if st != http.StatusOK || !strings.Contains(body, "<b>120</b> dead letters match") {
		t.Fatalf("dry run count: %d\n%.1500s", st, body)
	}

	st, body = e.do(t, c, http.MethodPost, "/ui/dlq/replay", url.Values{"target": {"a"}, "rate": {"0"}}, "Authorization", "Bearer "+consoleToken)
	m := jobIDRe.FindStringSubmatch(body)
	if st != http.StatusAccepted || m == nil {
		t.Fatalf("replay: %d %s", st, body)
	}
	var job struct {
		Running bool   `json:"running"`
		Done    int    `json:"done"`
		Result  string `json:"result"`
		Report  struct {
			Replayed int `json:"replayed"`
		} `json:"report"`
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		_, body := e.do(t, c, http.MethodGet, "/ui/api/jobs/"+m[1], nil)
		_ = json.Unmarshal([]byte(body), &job)
		return !job.Running && job.Result != "", body
	})
	if job.Report.Replayed != 120 || job.Result != schemas.AuditOK {
		t.Fatalf("replay ended %+v", job)
	}
	if n := e.dlqCount(t, "a"); n != 0 {
		t.Errorf("%d dead letters of a left after the replay", n)
	}
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		return sink.Count() == 120, fmt.Sprintf("%d of 120 replayed jobs delivered", sink.Count())
	})
	rs := e.auditOf(t, schemas.AuditReplay)
	if len(rs) != 1 || rs[0].Count != 120 || rs[0].Selected != 120 || rs[0].Who != "console:127.0.0.1" || len(rs[0].Selection.Targets) != 1 {
		t.Fatalf("replay audit = %+v", rs)
	}

	form := url.Values{"target": {"b"}, "csrf": {csrf}}
	st, body = e.do(t, c, http.MethodPost, "/ui/dlq/purge", form)
	maxSeq := regexp.MustCompile(`name="max_seq" value="(\d+)"`).FindStringSubmatch(body)
	if st != http.StatusOK || !strings.Contains(body, "Type <b>31</b> to confirm") || maxSeq == nil {
		t.Fatalf("purge asks: %d\n%.1500s", st, body)
	}
	form.Set("max_seq", maxSeq[1])
	form.Set("expect", "31")
	form.Set("confirm", "30")
	if st, _ = e.do(t, c, http.MethodPost, "/ui/dlq/purge", form); st != http.StatusConflict {
		t.Errorf("purge with the wrong count typed: %d, want 409", st)
	}
	if n := e.dlqCount(t, "b"); n != 31 {
		t.Fatalf("a refused purge deleted: %d left of 31", n)
	}
	form.Set("confirm", "31")
	st, body = e.do(t, c, http.MethodPost, "/ui/dlq/purge", form)
	if st != http.StatusOK || !strings.Contains(body, "Deleted 31 of 31") {
		t.Fatalf("purge: %d\n%.1500s", st, body)
	}
	if n := e.dlqCount(t, "b"); n != 0 {
		t.Errorf("%d dead letters of b left after the purge", n)
	}
	ps := e.auditOf(t, schemas.AuditPurge)
	if len(ps) != 1 || ps[0].Count != 31 || ps[0].Result != schemas.AuditOK || ps[0].Who != "console:127.0.0.1" {
		t.Fatalf("purge audit = %+v", ps)
	}
	// dispatcher audit ls reads the console's records like the CLI's.
	res := testenv.RunCLI(t, nil, nil, "audit", "ls", "--nats-url", e.b.URL)
	if res.Code != 0 || !strings.Contains(res.Stdout, "console:127.0.0.1") || !strings.Contains(res.Stdout, "purge") {
		t.Errorf("audit ls: %s", res)
	}
}
