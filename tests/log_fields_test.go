package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestLogFields checks the fields of the log lines one job's life writes,
// on the JSON lines the built binary prints: each attempt, the retry and the
// dead letter carry the job's job_id and trace_id, the service_name, the
// target and the attempt number, with the error class and status; the
// attempt and retry lines name the upstream_host they called.
func TestLogFields(t *testing.T) {
	t.Parallel()
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.Status(503))
	cfg := testenv.WriteConfig(t, b.Config(testenv.M{"service_name": "log-fields"},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL, testenv.M{"retry": testenv.M{"max_attempts": 2, "initial_interval": "50ms"}})})))
	p := testenv.StartProcess(t, testenv.Binary(t), "serve", "--config", cfg)
	p.WaitReady(t)
	b.Publish(t, testenv.JobMsg("a", schemas.Job{ID: "lf-1", TraceID: traceID}))
	testenv.WaitDeadLetters(t, b.JS, "a", 1, 20*time.Second)
	p.WaitLog(t, `"msg":"job dead-lettered"`, 10*time.Second)

	host := strings.TrimPrefix(sink.URL, "http://")
	want := []struct {
		msg     string
		attempt int
		host    bool // the line names the upstream host
	}{
		{"attempt", 1, true},
		{"retry in place", 1, true},
		{"attempt", 2, true},
		{"job dead-lettered", 2, false},
	}
	var got []testenv.LogLine
	for _, l := range p.LogLines() {
		if l.Str("job_id") == "lf-1" {
			got = append(got, l)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines with job_id lf-1, want %d:\n%v", len(got), len(want), got)
	}
	for i, w := range want {
		l := got[i]
		t.Run(fmt.Sprintf("%d %s", i, w.msg), func(t *testing.T) {
			if l.Msg() != w.msg {
				t.Fatalf("line %d is %q, want %q: %v", i, l.Msg(), w.msg, l)
			}
			for field, v := range map[string]string{"trace_id": traceID, "service_name": "log-fields", "target": "a", "error_class": "http_5xx"} {
				if l.Str(field) != v {
					t.Errorf("%s = %q, want %q", field, l.Str(field), v)
				}
			}
			if l.Int("attempt") != w.attempt || l.Int("status") != 503 {
				t.Errorf("attempt %d status %d, want %d and 503", l.Int("attempt"), l.Int("status"), w.attempt)
			}
			if w.msg == "job dead-lettered" && l.Str("reason") != schemas.ReasonExhausted {
				t.Errorf("reason %q, want %s", l.Str("reason"), schemas.ReasonExhausted)
			}
			if w.host && l.Str("upstream_host") != host {
				t.Errorf("upstream_host %q, want %q", l.Str("upstream_host"), host)
			}
		})
	}
}
