package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// consoleToken is the http.token of the console tests' services.
const consoleToken = "console-test-token-0123456789"

// consoleEnv is a service with its console, on a broker of its own.
type consoleEnv struct {
	b    *testenv.Broker
	svc  *testenv.Running
	base string // http://127.0.0.1:port
}

// startConsoleService runs a service with targets, http.token set and a
// short health window, and returns its console's address.
func startConsoleService(t *testing.T, targets testenv.M) *consoleEnv {
	t.Helper()
	b := testenv.NewBroker(t)
	cfg := b.Config(testenv.M{"http": testenv.M{"token": consoleToken}, "health": testenv.M{"window": "2s"}}, testenv.Targets(targets))
	svc := testenv.RunService(t, cfg)
	return &consoleEnv{b: b, svc: svc, base: "http://" + svc.HTTPAddr()}
}

// browserless is an HTTP client with a cookie jar that does not follow
// redirects (the tests look at them).
func browserless(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends a request and returns the status and body.
func (e *consoleEnv) do(t *testing.T, c *http.Client, method, path string, form url.Values, header ...string) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login opens a session on c and returns its CSRF token.
func (e *consoleEnv) login(t *testing.T, c *http.Client) string {
	t.Helper()
	st, body := e.do(t, c, http.MethodPost, "/ui/login", url.Values{"token": {consoleToken}, "next": {"/ui/"}})
	if st != http.StatusSeeOther {
		t.Fatalf("login: %d %s", st, body)
	}
	st, body = e.do(t, c, http.MethodGet, "/ui/", nil)
	m := csrfRe.FindStringSubmatch(body)
	if st != http.StatusOK || m == nil {
		t.Fatalf("after login: %d, no csrf field in the page", st)
	}
	return m[1]
}

// auditOf lists the audit records of action.
func (e *consoleEnv) auditOf(t *testing.T, action string) []schemas.AuditRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entries, err := audit.List(ctx, e.b.JS, testenv.Topo, audit.Filter{Actions: []string{action}})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]schemas.AuditRecord, 0, len(entries))
	for _, en := range entries {
		out = append(out, en.Record)
	}
	return out
}

// dlqCount is the dead letters stored for target.
func (e *consoleEnv) dlqCount(t *testing.T, target string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.b.JS.Stream(ctx, testenv.Topo.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(testenv.Topo.DLQSubject(target)))
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Subjects[testenv.Topo.DLQSubject(target)])
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

// putHostileDeadLetter stores a dead letter of target whose job id, error
// and body hold markup and terminal escapes, the way deadletter.Writer
// does (same headers).
func putHostileDeadLetter(t *testing.T, e *consoleEnv, target, id string) {
	t.Helper()
	now := time.Now().UTC()
	job, _ := json.Marshal(map[string]any{"id": id, "target": target, "path": "/x", "body": map[string]string{"note": "<img src=x onerror=alert(2)>\x1b]52;c;aGk=\x07"}})
	rec := schemas.DeadLetter{Job: job, Target: target, Reason: schemas.ReasonExhausted, ErrorClass: "http_5xx",
		Error: "<script>alert(3)</script> \x1b[31mred", LastStatus: 503, Attempts: 1, FirstAttemptAt: &now, DeadAt: now,
		History: []schemas.Attempt{{Attempt: 1, At: now, Endpoint: "http://127.0.0.1/", Status: 503, ErrorClass: "http_5xx", Error: "<b>bold</b>"}}}
	data, err := json.Marshal(&rec)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(testenv.DLQSubject(target))
	m.Data = data
	m.Header.Set(schemas.HeaderReason, rec.Reason)
	m.Header.Set(schemas.HeaderErrorClass, rec.ErrorClass)
	m.Header.Set(schemas.HeaderJobID, id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.b.JS.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
}
