package tests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// browserScene is a service with a healthy busy target, a paused one, one
// whose endpoint fails (its breaker opens: OPEN, jobs to fallback) and one
// whose endpoint answers nothing, dead letters (one of them hostile), and a
// browser logged in to its console.
type browserScene struct {
	*consoleEnv
	br      *browser
	hostile uint64 // the hostile dead letter's sequence
}

func newBrowserScene(t *testing.T) *browserScene {
	t.Helper()
	br := newBrowser(t)
	okSink, badSink, holeSink := testenv.NewSink(t), testenv.NewSink(t), testenv.NewSink(t)
	okSink.SetBehaviour(testenv.Sleep(20*time.Millisecond, testenv.OK()))
	badSink.SetBehaviour(testenv.Status(http.StatusServiceUnavailable))
	holeSink.SetBehaviour(testenv.BlackHole())
	e := startConsoleService(t, testenv.M{
		"payments": testenv.Target(okSink.URL, testenv.M{"concurrency": 4}),
		"invoices": testenv.Target(okSink.URL),
		"webhooks": testenv.Target(badSink.URL, testenv.M{"retry": testenv.M{"max_attempts": 1},
			"breaker": testenv.M{"consecutive_failures": 3, "min_requests": 3, "open_timeout": "60s"}}),
		"crm": testenv.Target(holeSink.URL, testenv.M{"concurrency": 2, "timeouts": testenv.M{"total": "30s", "response_header": "30s"}}),
	})
	if _, err := dispatcher.Pause(context.Background(), e.b.JS, testenv.Topo, "invoices", time.Time{}, "ops", "provider maintenance"); err != nil {
		t.Fatal(err)
	}
	var msgs []testenv.Msg
	for i := range 600 {
		msgs = append(msgs, testenv.JobMsg("payments", schemas.Job{ID: fmt.Sprintf("pay-%04d", i)}))
	}
	for i := range 40 {
		msgs = append(msgs, testenv.JobMsg("webhooks", schemas.Job{ID: fmt.Sprintf("wh-%04d", i)}),
			testenv.JobMsg("invoices", schemas.Job{ID: fmt.Sprintf("inv-%04d", i)}),
			testenv.JobMsg("crm", schemas.Job{ID: fmt.Sprintf("crm-%04d", i)}))
	}
	e.b.PublishMany(t, msgs)
	testenv.PutDeadLetters(t, e.b.JS, "payments", ids("pay-dead", 80))
	putHostileDeadLetter(t, e, "payments", "<script>alert(1)</script>\x1b]8;;http://evil/\x1b\\")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pg, err := deadletter.NewStore(e.b.JS, testenv.Prefix, testenv.Topo.DLQStream()).Page(ctx, deadletter.Filter{Text: "alert(1)"}, deadletter.PageRequest{})
	if err != nil || len(pg.Records) != 1 {
		t.Fatalf("the hostile dead letter: %v, %v", pg, err)
	}
	br.login(t, e.base)
	return &browserScene{consoleEnv: e, br: br, hostile: pg.Records[0].Seq}
}

// TestConsoleUIPages loads every page in Chromium: none logs an error or
// throws, the overview shows the paused target PAUSED and the failing one's
// breaker open, and the hostile dead letter shows as text, with no dialog.
// Each page is saved as a screenshot (DISPATCH_SCREENSHOTS, else a
// temporary directory).
func TestConsoleUIPages(t *testing.T) {
	t.Parallel()
	s := newBrowserScene(t)
	br, base := s.br, s.base
	br.waitText(t, "#overview", "PAUSED", 20*time.Second)
	br.waitText(t, "#overview", "OPEN", 30*time.Second)
	br.waitText(t, "#overview", "paused by ops until resumed: provider maintenance", 5*time.Second)
	br.shot(t, "overview")
	br.clean(t, "overview")

	for _, p := range []struct{ path, name, want string }{
		{"/ui/targets/webhooks", "target", "Breaker transitions"},
		{"/ui/targets/invoices", "target-paused", "provider maintenance"},
		{"/ui/dlq", "deadletters", "Dead letters"},
		{"/ui/dlq?target=payments&count=1", "deadletters-count", "81"},
		{fmt.Sprintf("/ui/dlq/%d", s.hostile), "deadletter", "History"},
		{"/ui/fallbacks", "fallbacks", "webhooks"},
		{"/ui/fleet", "fleet", "this one"},
		{"/ui/audit", "audit", "provider maintenance"},
	} {
		br.visit(t, base+p.path, p.name)
		if got := br.text(t, "main"); !strings.Contains(got, p.want) {
			t.Errorf("%s does not say %q:\n%.1500s", p.path, p.want, got)
		}
		br.clean(t, p.path)
	}

	// The hostile record: its job id, error and body are text on the page.
	br.visit(t, fmt.Sprintf("%s/ui/dlq/%d", base, s.hostile), "deadletter-hostile")
	got := br.text(t, "main")
	for _, want := range []string{`<script>alert(1)</script>\x1b]8;;http://evil/\x1b\`, `<script>alert(3)</script> \x1b[31mred`, `<img src=x onerror=alert(2)>\u001b]52;c;aGk=\u0007`} {
		if !strings.Contains(got, want) {
			t.Errorf("the hostile dead letter's page does not show %q as text:\n%.3000s", want, got)
		}
	}
	n, err := chromedp.Run(br.ctx, chromedp.Evaluate[int](`document.querySelectorAll("main script, main img").length`))
	if err != nil || n != 0 {
		t.Errorf("the hostile record made %d script or img elements (%v)", n, err)
	}
	br.visit(t, base+"/ui/dlq?text=alert", "deadletters-hostile")
	br.clean(t, "hostile dead letter")
}

// TestConsoleUIActions drives the actions in Chromium: without a session
// they are refused; a replay from the dead letters page shows its progress
// to the end, moves the records and is audited; a purge deletes nothing
// until the count is typed.
func TestConsoleUIActions(t *testing.T) {
	t.Parallel()
	s := newBrowserScene(t)
	br, base := s.br, s.base

	// Another browser, not logged in: it reads on loopback, and may not act.
	anon := newBrowser(t)
	anon.visit(t, base+"/ui/dlq?target=payments", "deadletters-anonymous")
	if got := anon.text(t, "main"); !strings.Contains(got, "Log in with the token to replay or purge") {
		t.Errorf("the anonymous page offers actions:\n%.800s", got)
	}
	if st := anon.fetchStatus(t, "/ui/dlq/replay", "target=payments"); st != http.StatusUnauthorized && st != http.StatusForbidden {
		t.Errorf("a replay without the token: %d, want 401 or 403", st)
	}
	if st := br.fetchStatus(t, "/ui/dlq/replay", "target=payments"); st != http.StatusForbidden {
		t.Errorf("a replay with the session but no CSRF token: %d, want 403", st)
	}
	anon.clean(t, "anonymous")
	br.clean(t, "no CSRF token")
	if n := s.dlqCount(t, "payments"); n != 81 {
		t.Fatalf("refused replays moved records: %d of 81 left", n)
	}

	// Replay the 80 well-formed records at 40/s, following the progress.
	br.visit(t, base+"/ui/dlq?target=payments&text=pay-dead", "replay-form")
	br.run(t, "set the pace", chromedp.SetValue(chromedp.CSS(`form[action="/ui/dlq/replay"] input[name=rate]`), "40"),
		chromedp.Click(chromedp.CSS(`form[action="/ui/dlq/replay"] button`)), chromedp.WaitVisible(chromedp.CSS("#job-bar")))
	br.waitText(t, "#job-status", " of 80: ", 10*time.Second)
	br.shot(t, "replay-progress")
	br.waitText(t, "#job-status", "ok: 80 replayed, 0 failed, 0 skipped of 80", 30*time.Second)
	br.shot(t, "replay-done")
	br.clean(t, "replay")
	if n := s.dlqCount(t, "payments"); n != 1 {
		t.Errorf("%d dead letters of payments left after the replay, want the hostile one", n)
	}
	rs := s.auditOf(t, schemas.AuditReplay)
	if len(rs) != 1 || rs[0].Count != 80 || rs[0].Who != "console:127.0.0.1" || rs[0].Selection.Text != "pay-dead" {
		t.Fatalf("replay audit = %+v", rs)
	}
	br.visit(t, base+"/ui/audit?action=replay", "audit-replay")
	if got := br.text(t, "main"); !strings.Contains(got, "console:127.0.0.1") || !strings.Contains(got, "80 of 80") {
		t.Errorf("the audit page does not show the replay:\n%.1500s", got)
	}

	// Purge: asked, refused without the count, done with it.
	testenv.PutDeadLetters(t, s.b.JS, "crm", ids("crm-dead", 12))
	br.visit(t, base+"/ui/dlq?target=crm", "purge-list")
	br.run(t, "ask to purge", chromedp.Click(chromedp.CSS(`form[action="/ui/dlq/purge"] button`)), chromedp.WaitVisible(chromedp.CSS(`input[name=confirm]`)))
	br.shot(t, "purge-confirm")
	br.run(t, "purge without the count", chromedp.Click(chromedp.CSS(`form[action="/ui/dlq/purge"] button`)), chromedp.WaitVisible(chromedp.CSS(`p.error`)))
	if n := s.dlqCount(t, "crm"); n != 12 {
		t.Fatalf("a purge without the count deleted: %d of 12 left", n)
	}
	br.run(t, "purge with the count", chromedp.SendKeys(chromedp.CSS(`input[name=confirm]`), "12"),
		chromedp.Click(chromedp.CSS(`form[action="/ui/dlq/purge"] button`)))
	br.waitText(t, "main", "Deleted 12 of 12", 10*time.Second)
	br.shot(t, "purge-done")
	br.clean(t, "purge")
	if n := s.dlqCount(t, "crm"); n != 0 {
		t.Errorf("%d dead letters of crm left after the purge", n)
	}
	if ps := s.auditOf(t, schemas.AuditPurge); len(ps) != 1 || ps[0].Count != 12 {
		t.Errorf("purge audit = %+v", ps)
	}

	// Pause and resume from the target page.
	br.visit(t, base+"/ui/targets/payments", "target-payments")
	br.run(t, "pause", chromedp.SendKeys(chromedp.CSS(`input[name=reason]`), "console test"),
		chromedp.Click(chromedp.CSS(`form[action$="/pause"] button`)))
	br.waitText(t, "main", "Paused payments for the fleet", 10*time.Second)
	br.run(t, "resume", chromedp.Click(chromedp.CSS(`form[action$="/resume"] button`)))
	br.waitText(t, "main", "Resumed payments for the fleet", 10*time.Second)
	br.clean(t, "pause and resume")
	ps := s.auditOf(t, schemas.AuditPause)
	if len(ps) != 2 || ps[1].Who != "console:127.0.0.1" || ps[1].Reason != "console test" { // the scene's pause, then ours
		t.Errorf("pause audit = %+v", ps)
	}
}
