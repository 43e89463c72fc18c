package testenv

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Prefix is the subject prefix the tests use (the default).
const Prefix = "dispatch"

// Stream names of the default prefix.
const (
	JobsStream     = "DISPATCH_JOBS"
	DLQStream      = "DISPATCH_DLQ"
	FallbackStream = "DISPATCH_FALLBACK"
)

// Topo names the subjects, streams and consumers of Prefix.
var Topo = schemas.Topology{Prefix: Prefix}

// Stored is the subject the streams store a message published on subject
// under: dispatch.part.<k>.<target> for dispatch.jobs.<target> and
// dispatch.duepart.<k>.<target> for dispatch.due.<target> (Partitions
// partitions; the streams' subject transforms), subject itself for any
// other.
func Stored(subject string) string {
	if t, ok := Topo.JobsTarget(subject); ok && !strings.ContainsAny(t, ".*>") {
		return Topo.PartSubject(schemas.Partition(t, Partitions), t)
	}
	if t, ok := Topo.DueTarget(subject); ok && !strings.ContainsAny(t, ".*>") {
		return Topo.DuePartSubject(schemas.Partition(t, Partitions), t)
	}
	return subject
}

// JobsSubject is dispatch.jobs.<target>.
func JobsSubject(target string) string { return Topo.JobsSubject(target) }

// DLQSubject is dispatch.dlq.<target>.
func DLQSubject(target string) string { return Topo.DLQSubject(target) }

// FallbackSubject is dispatch.fallback.<target>.
func FallbackSubject(target string) string { return Topo.FallbackSubject(target) }

// Msg is one message to publish on a jobs subject.
type Msg struct {
	Subject string
	// ID goes into Nats-Msg-Id when not empty.
	ID     string
	Data   []byte
	Header nats.Header
}

// JobMsg is job, encoded as JSON, for target's jobs subject, with its id as
// Nats-Msg-Id.
func JobMsg(target string, job schemas.Job) Msg {
	b, err := json.Marshal(job)
	if err != nil {
		panic("testenv: JobMsg: " + err.Error())
	}
	return Msg{Subject: JobsSubject(target), ID: job.ID, Data: b}
}

// RawMsg is data as it is for target's jobs subject; id, when not empty,
// goes into Nats-Msg-Id.
func RawMsg(target, id string, data []byte) Msg {
	return Msg{Subject: JobsSubject(target), ID: id, Data: data}
}

// NATSMsg is m as a NATS message, its ID (when set) as Nats-Msg-Id.
func (m Msg) NATSMsg() *nats.Msg {
	nm := nats.NewMsg(m.Subject)
	nm.Data = m.Data
	for k, vs := range m.Header {
		nm.Header[k] = vs
	}
	if m.ID != "" {
		nm.Header.Set(jetstream.MsgIDHeader, m.ID)
	}
	return nm
}

// Publish publishes one message and waits for JetStream's ack (bounded).
func Publish(t testing.TB, js jetstream.JetStream, m Msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, m.NATSMsg()); err != nil {
		t.Fatalf("publish %s (%s): %v", m.Subject, m.ID, err)
	}
}

// PublishMany publishes msgs asynchronously, in chunks, and waits for every
// ack (bounded); any failed publish fails the test.
func PublishMany(t testing.TB, js jetstream.JetStream, msgs []Msg) {
	t.Helper()
	const chunk = 500
	for start := 0; start < len(msgs); start += chunk {
		end := min(start+chunk, len(msgs))
		futures := make([]jetstream.PubAckFuture, 0, end-start)
		for _, m := range msgs[start:end] {
			f, err := js.PublishMsgAsync(m.NATSMsg())
			if err != nil {
				t.Fatalf("publish async %s (%s): %v", m.Subject, m.ID, err)
			}
			futures = append(futures, f)
		}
		deadline := time.After(30 * time.Second)
		for i, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				t.Fatalf("publish %s (%s): %v", msgs[start+i].Subject, msgs[start+i].ID, err)
			case <-deadline:
				t.Fatalf("publish acks not received within 30s")
			}
		}
	}
}
