package chaos

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// hugeBody is what /huge offers: 2 GB.
const hugeBody = 2 << 30

// badTarget is a raw TCP server on 127.0.0.1 that misbehaves by request
// path: /drip sends its body a byte at a time, /huge offers 2 GB, /malformed
// answers something that is not HTTP, /reset resets the connection,
// /silent never answers, and anything else gets a proper 200.
func badTarget(t *testing.T) string {
	t.Helper()
	return "http://" + testenv.TCPServer(t, serveBad)
}

func serveBad(c net.Conn, done <-chan struct{}) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, req.Body)
	switch req.URL.Path {
	case "/drip":
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n")
		for range 1000 {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	case "/huge":
		_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", int64(hugeBody))
		chunk := []byte(strings.Repeat("0123456789abcdef", 4096)) // 64 KiB
		for sent := 0; sent < hugeBody; sent += len(chunk) {
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	case "/malformed":
		_, _ = io.WriteString(c, "HTTP/1.1 2OO Okay-ish\r\nthis is not a header\r\n\r\n")
	case "/reset":
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	case "/silent":
		<-done
	default:
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}")
	}
}

// TestBadTargets sends jobs to a target that drips, offers 2 GB, answers
// garbage, resets and stays silent: each job gets its outcome and error
// class within its timeout, memory stays bounded, and healthy jobs queued
// behind them are still delivered.
func TestBadTargets(t *testing.T) {
	t.Parallel()
	const total, header = 2 * time.Second, time.Second
	const maxBody = 65536
	start := time.Now()
	n := startNATS(t)
	nc, js := testenv.Connect(t, n.URL)
	results := testenv.Results(t, nc, "chaos.results")
	cfg, addr := serveConfig(t, n.URL,
		testenv.M{"security": testenv.M{"max_response_bytes": maxBody}},
		testenv.Targets(testenv.M{"bad": testenv.Target(badTarget(t), testenv.M{
			"timeouts":    testenv.M{"total": total.String(), "response_header": header.String()},
			"retry":       testenv.M{"max_attempts": 1},
			"concurrency": 2,
		})}))
	svc := startServe(t, cfg, addr)

	cases := []struct {
		path  string
		want  string // outcome
		class []string
		limit time.Duration
	}{
		// A 2xx whose body the total timeout cuts is delivered with what
		// came: the target completed the call (worker/call.go readBody).
		{"/drip", schemas.OutcomeDelivered, []string{""}, total},
		{"/huge", schemas.OutcomeDelivered, []string{""}, total},
		{"/malformed", schemas.OutcomeDeadLettered, []string{"connection_reset", "http_5xx", "invalid_response", "protocol"}, total},
		{"/reset", schemas.OutcomeDeadLettered, []string{"connection_reset"}, total},
		{"/silent", schemas.OutcomeDeadLettered, []string{"timeout_response_header"}, header},
	}
	var ids []string
	var msgs []testenv.Msg
	for round := range 2 { // twice each: a hung worker would hold the rest up
		for _, c := range cases {
			id := fmt.Sprintf("bad%s-%d", strings.ReplaceAll(c.path, "/", "-"), round)
			ids = append(ids, id)
			msgs = append(msgs, testenv.JobMsg("bad", schemas.Job{ID: id, Path: c.path + "?job=" + id, ReplyTo: "chaos.results"}))
		}
	}
	for i := range 10 {
		id := fmt.Sprintf("good-%02d", i)
		ids = append(ids, id)
		msgs = append(msgs, testenv.JobMsg("bad", schemas.Job{ID: id, Path: "/ok?job=" + id, ReplyTo: "chaos.results"}))
	}
	testenv.PublishMany(t, js, msgs)
	testenv.Eventually(t, 60*time.Second, func() (bool, string) {
		return results.Distinct() >= len(ids), fmt.Sprintf("%d of %d jobs have a result", results.Distinct(), len(ids))
	})

	const slack = 1500 * time.Millisecond
	for round := range 2 {
		for _, c := range cases {
			id := fmt.Sprintf("bad%s-%d", strings.ReplaceAll(c.path, "/", "-"), round)
			rs := results.ByID(id)
			if len(rs) == 0 {
				t.Errorf("%s: no result", id)
				continue
			}
			r := rs[0]
			d := time.Duration(r.DurationMS * float64(time.Millisecond))
			t.Logf("%-14s %s status %d class %q error %q in %s, body %d bytes", id, r.Outcome, r.Status, r.ErrorClass, r.Error, d.Round(time.Millisecond), len(r.Body))
			if r.Outcome != c.want {
				t.Errorf("%s: outcome %s, want %s", id, r.Outcome, c.want)
			}
			okClass := false
			for _, cl := range c.class {
				okClass = okClass || r.ErrorClass == cl
			}
			if !okClass {
				t.Errorf("%s: error class %q, want one of %q", id, r.ErrorClass, c.class)
			}
			if d > c.limit+slack {
				t.Errorf("%s: took %s, want within %s (+%s)", id, d, c.limit, slack)
			}
			if c.path == "/huge" && len(r.Body) > maxBody {
				t.Errorf("%s: result body %d bytes, want at most max_response_bytes %d", id, len(r.Body), maxBody)
			}
		}
	}
	for i := range 10 {
		id := fmt.Sprintf("good-%02d", i)
		if rs := results.ByID(id); len(rs) == 0 || rs[0].Outcome != schemas.OutcomeDelivered {
			t.Errorf("%s: healthy job behind the bad ones not delivered: %+v", id, rs)
		}
	}
	if hwm := vmHWM(t, svc.Pid()); hwm > 150<<20 {
		t.Errorf("serve peak RSS %d MiB while 2 GB bodies were offered, want under 150 MiB", hwm>>20)
	} else {
		t.Logf("serve peak RSS (VmHWM) %d MiB", hwm>>20)
	}
	l := waitAllAccounted(t, js, testenv.LedgerInput{IDs: ids, Results: results}, []string{"bad"}, 30*time.Second)
	l.Check(t)
	t.Logf("%s", time.Since(start).Round(time.Millisecond))
}
