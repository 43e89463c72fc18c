package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
)

func TestShowRecord(t *testing.T) {
	rec := &deadletter.Record{Seq: 7, Time: time.Date(2026, 11, 26, 9, 0, 31, 0, time.UTC), Subject: "dispatch.dlq.payments",
		Target: "payments", JobID: "ord-1001",
		Data: []byte(`{"job":{"id":"ord-1001","path":"/v1/charges"},"raw":null,"target":"payments","reason":"exhausted",` +
			`"error_class":"http_5xx","error":"503 Service Unavailable","last_status":503,"attempts":2,` +
			`"history":[{"attempt":1,"at":"2026-11-26T09:00:00.123Z","endpoint":"https://pay.example.com","status":503,` +
			`"error_class":"http_5xx","error":"503 Service Unavailable","duration_ms":12.5}],` +
			`"first_attempt_at":"2026-11-26T09:00:00.123Z","dead_at":"2026-11-26T09:00:31Z","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",` +
			`"service_name":"dispatcher","instance":"host-a/1","meta":{"order":1001}}`)}
	var buf bytes.Buffer
	if err := showRecord(&buf, rec); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Dead letter 7 on dispatch.dlq.payments, stored 2026-11-26T09:00:31Z",
		"  job id:        ord-1001\n", "  last status:   503\n", "  service:       dispatcher (host-a/1)\n",
		"History (1 attempts kept):", "  1  2026-11-26T09:00:00.123Z  https://pay.example.com  503     http_5xx  12.5ms  503 Service Unavailable",
		"Job:\n  {\n    \"id\": \"ord-1001\",", "Meta:\n  {\n    \"order\": 1001\n  }", "dispatcher dlq replay --seq 7",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	raw := &deadletter.Record{Seq: 8, Data: []byte(`{"job":null,"raw":"AP8=","target":"t","reason":"invalid","dead_at":"2026-11-26T09:00:31Z"}`)}
	buf.Reset()
	_ = showRecord(&buf, raw)
	if !strings.Contains(buf.String(), "(the job could not be decoded)") || !strings.Contains(buf.String(), "base64") {
		t.Errorf("undecodable job:\n%s", buf.String())
	}

	// A record of this version: meta in the job only; one cut to fit says
	// what it lost and that it cannot be replayed.
	cut := &deadletter.Record{Seq: 9, Truncated: "body", Data: []byte(`{"job":{"id":"big","meta":{"order":7}},"raw":null,"target":"t",` +
		`"reason":"non_retryable","error":"400","history":[],"dead_at":"2026-11-26T09:00:31Z","truncated":["body"]}`)}
	buf.Reset()
	_ = showRecord(&buf, cut)
	for _, want := range []string{"  truncated:     body\n", "Meta:\n  {\n    \"order\": 7\n  }", "Not replayable: cut to fit the NATS max payload (lost: body)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("cut record: output lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "dlq replay --seq 9") {
		t.Errorf("a cut record is offered for replay:\n%s", buf.String())
	}
}
