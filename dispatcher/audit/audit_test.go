package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/schemas"
)

var topo = schemas.Topology{Prefix: "acme.dispatch"}

func startJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestAppendRefusesInvalidRecords: a record that would break the schema is
// refused before anything is stored.
func TestAppendRefusesInvalidRecords(t *testing.T) {
	js := startJS(t)
	ok := schemas.AuditRecord{Who: "tester", Action: schemas.AuditPause, Selection: schemas.AuditSelection{Target: "a"}, Count: 1, Result: schemas.AuditOK}
	for _, c := range []struct {
		name string
		edit func(*schemas.AuditRecord)
	}{
		{"no who", func(r *schemas.AuditRecord) { r.Who = "" }},
		{"unknown action", func(r *schemas.AuditRecord) { r.Action = "delete" }},
		{"unknown result", func(r *schemas.AuditRecord) { r.Result = "maybe" }},
		{"bad target", func(r *schemas.AuditRecord) { r.Selection.Target = "a.b" }},
		{"negative count", func(r *schemas.AuditRecord) { r.Count = -1 }},
	} {
		rec := ok
		c.edit(&rec)
		if _, err := audit.Append(context.Background(), js, topo, rec); !errors.Is(err, audit.ErrInvalidRecord) {
			t.Errorf("%s: Append = %v, want ErrInvalidRecord", c.name, err)
		}
	}
	if _, err := js.Stream(context.Background(), topo.AuditStream()); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("a refused record created the stream: %v", err)
	}
}

// TestAppendAndList: Append creates the stream when it is missing and
// stores records that validate against the schema; List reads them back
// by action, since a time, and the newest few.
func TestAppendAndList(t *testing.T) {
	js := startJS(t)
	ctx := context.Background()
	if got, err := audit.List(ctx, js, topo, audit.Filter{}); err != nil || len(got) != 0 {
		t.Fatalf("List without a stream = %v, %v; want none", got, err)
	}
	var mid time.Time
	for i, action := range []string{schemas.AuditPause, schemas.AuditReplay, schemas.AuditResume, schemas.AuditPurge, schemas.AuditPause} {
		if i == 2 {
			time.Sleep(20 * time.Millisecond)
			mid = time.Now()
			time.Sleep(20 * time.Millisecond)
		}
		rec := schemas.AuditRecord{Who: "tester", Action: action, Count: i, Result: schemas.AuditOK}
		if action == schemas.AuditPause || action == schemas.AuditResume {
			rec.Selection.Target = "a"
		} else {
			rec.Selection.Targets, rec.Selected = []string{"a"}, i
		}
		stored, err := audit.Append(ctx, js, topo, rec)
		if err != nil {
			t.Fatal(err)
		}
		if stored.ID == "" || stored.At.IsZero() {
			t.Errorf("stored %+v: no id or time", stored)
		}
	}
	st, err := js.Stream(ctx, topo.AuditStream())
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.CachedInfo().Config; cfg.MaxAge != audit.DefaultMaxAge || cfg.Retention != jetstream.LimitsPolicy {
		t.Errorf("stream created with max age %s, retention %s", cfg.MaxAge, cfg.Retention)
	}
	all, err := audit.List(ctx, js, topo, audit.Filter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("List = %d records, %v; want 5", len(all), err)
	}
	for _, e := range all {
		data, _ := json.Marshal(e.Record)
		if err := schemas.Validate(schemas.AuditSchema, data); err != nil {
			t.Errorf("record %d: %v", e.Seq, err)
		}
	}
	for _, c := range []struct {
		name string
		f    audit.Filter
		want []int // counts, in order
	}{
		{"pauses", audit.Filter{Actions: []string{schemas.AuditPause}}, []int{0, 4}},
		{"since", audit.Filter{Since: mid}, []int{2, 3, 4}},
		{"newest two", audit.Filter{Limit: 2}, []int{3, 4}},
		{"replays and purges since", audit.Filter{Since: mid, Actions: []string{schemas.AuditReplay, schemas.AuditPurge}}, []int{3}},
		{"nothing since", audit.Filter{Since: time.Now().Add(time.Hour)}, nil},
	} {
		got, err := audit.List(ctx, js, topo, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var counts []int
		for _, e := range got {
			counts = append(counts, e.Record.Count)
		}
		if len(counts) != len(c.want) || (len(counts) > 0 && !equal(counts, c.want)) {
			t.Errorf("%s: counts %v, want %v", c.name, counts, c.want)
		}
	}
}

func equal(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}
