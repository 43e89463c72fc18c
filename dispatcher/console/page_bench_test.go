package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// fill stores n dead letters over 4 targets the way deadletter.Writer does
// (same headers); one in 1000 is a non_retryable 404 of target "delta".
func fill(b testing.TB, js jetstream.JetStream, n int) {
	b.Helper()
	now := time.Now().UTC()
	targets := []string{"alpha", "bravo", "charlie"}
	for i := range n {
		target, reason, class, status := targets[i%3], schemas.ReasonExhausted, "http_5xx", 503
		if i%1000 == 999 {
			target, reason, class, status = "delta", schemas.ReasonNonRetryable, "http_4xx", 404
		}
		id := fmt.Sprintf("job-%06d", i)
		job := fmt.Sprintf(`{"id":%q,"target":%q,"path":"/hook","body":{"order":%d,"note":"some customer data"}}`, id, target, i)
		rec := schemas.DeadLetter{Job: json.RawMessage(job), Target: target, Reason: reason, ErrorClass: class,
			Error: fmt.Sprintf("%d from the endpoint", status), LastStatus: status, Attempts: 3, DeadAt: now, FirstAttemptAt: &now,
			History: []schemas.Attempt{{Attempt: 1, At: now, Endpoint: "https://api.example.com/", Status: status, ErrorClass: class, DurationMS: 12}}}
		data, _ := json.Marshal(&rec)
		m := nats.NewMsg(testTopo.DLQSubject(target))
		m.Data = data
		m.Header.Set(schemas.HeaderReason, reason)
		m.Header.Set(schemas.HeaderErrorClass, class)
		m.Header.Set(schemas.HeaderJobID, id)
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(30*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(120 * time.Second):
		b.Fatal("dead letters not acknowledged within 2 minutes")
	}
}

// BenchmarkDeadLettersPage100k times the dead letters page's handler, the
// whole answer rendered, on a stream of 100,000 records: the first page
// (newest first), the first page of a rare reason, and a next page.
func BenchmarkDeadLettersPage100k(b *testing.B) {
	js := startJS(b)
	start := time.Now()
	fill(b, js, 100_000)
	b.Logf("filled 100k dead letters in %v", time.Since(start).Round(time.Millisecond))
	c, err := New(js, testTopo, fakeBackend{}, NewFigures(FigureSettings{}), tokenAuth(""), Settings{}, WithLoopback(true))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, query string }{
		{"first", ""},
		{"first_non_retryable", "?reason=non_retryable"},
		{"first_target", "?target=bravo"},
		{"next", "?cursor=50000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ui/dlq"+bc.query, nil))
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "job-0") {
					b.Fatalf("GET /ui/dlq%s: %d\n%.500s", bc.query, w.Code, w.Body.String())
				}
			}
		})
	}
}
