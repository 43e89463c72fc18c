package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's headless Chromium with chromedp. Without
// chromium they skip, saying why, except on CI (CI=true), where they fail:
// .ci/run installs it.

// browserTimeout bounds one browser test.
const browserTimeout = 90 * time.Second

// browser is a headless Chromium tab with what it reported: console
// errors, uncaught exceptions, log errors (a CSP violation) and dialogs.
type browser struct {
	ctx   context.Context
	shots string // where screenshots go

	mu       sync.Mutex
	problems []string
	dialogs  []string
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (CI=true: .ci/run installs Debian's chromium package)")
	}
	t.Skip("chromium is not installed: the browser tests need Debian's chromium package (apt-get install chromium)")
	return ""
}

// newBrowser starts Chromium (stopped at cleanup) and a tab in it.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1500, 1000),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { acancel(); cancel() })
	b := &browser{ctx: bctx, shots: os.Getenv("DISPATCH_SCREENSHOTS")}
	if b.shots == "" {
		b.shots = t.TempDir()
	} else if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx); err != nil { // starts the browser and the tab
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(bctx)
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.note(false, m.String()+" "+m.URL)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.note(true, string(ev.Type)+": "+ev.Message)
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	t.Cleanup(func() { bcancel(); wg.Wait() })
	return b
}

func (b *browser) note(dialog bool, s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if dialog {
		b.dialogs = append(b.dialogs, s)
		return
	}
	b.problems = append(b.problems, s)
}

// clean fails the test on any console error, exception or dialog so far.
func (b *browser) clean(t *testing.T, where string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		// A 4xx/5xx a test asked for on purpose shows as a failed resource.
		if strings.Contains(p, "Failed to load resource") && strings.Contains(p, "status of 4") {
			continue
		}
		t.Errorf("%s: %s", where, p)
	}
	for _, d := range b.dialogs {
		t.Errorf("%s: a dialog opened: %s", where, d)
	}
	b.problems, b.dialogs = nil, nil
}

// run runs actions, failing the test on an error.
func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// visit loads url, waits for the page's main element and saves a
// screenshot as <name>.png.
func (b *browser) visit(t *testing.T, url, name string) {
	t.Helper()
	b.run(t, "load "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("main")))
	b.shot(t, name)
}

// shot saves a screenshot of the whole page as <name>.png.
func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// text is the text of the first element sel selects.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, innerText(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// waitText waits (bounded) until the text of sel holds want.
func (b *browser) waitText(t *testing.T, sel, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var s string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		got, err := chromedp.Run(ctx, innerText(sel))
		cancel()
		s = got
		if err == nil && strings.Contains(s, want) {
			return
		}
		select {
		case <-b.ctx.Done():
			t.Fatalf("waiting for %q in %s: %v", want, sel, b.ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("%s does not say %q within %s; it says:\n%s", sel, want, timeout, s)
}

// login logs the browser in with the token.
func (b *browser) login(t *testing.T, base string) {
	t.Helper()
	b.run(t, "open the login page", chromedp.Navigate(base+"/ui/login"))
	b.run(t, "wait for the form", chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)))
	b.run(t, "type the token", chromedp.SendKeys(chromedp.CSS(`input[name=token]`), consoleToken))
	b.run(t, "submit", chromedp.Submit(chromedp.CSS(`input[name=token]`)))
	b.waitText(t, "main", "targets", 10*time.Second)
}

// fetchStatus has the page POST form to path with fetch and returns the
// status.
func (b *browser) fetchStatus(t *testing.T, path, form string) int {
	t.Helper()
	js := fmt.Sprintf(`fetch(%q, {method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: %q}).then(r => r.status)`, path, form)
	st, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch %s: %v", path, err)
	}
	return st
}

// innerText is the rendered text of the first element sel selects ("" when
// there is none).
func innerText(sel string) chromedp.Action[string] {
	return chromedp.Evaluate[string](fmt.Sprintf(`(function(){var e = document.querySelector(%q); return e ? e.innerText : ""})()`, sel))
}
