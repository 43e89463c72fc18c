package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// ErrNotStored is wrapped when JetStream did not accept a record in time.
var ErrNotStored = errors.New("record not stored")

// Writer publishes records to JetStream and waits for each ack.
type Writer struct {
	js      jetstream.JetStream
	topo    schemas.Topology
	timeout time.Duration
}

// NewWriter returns a Writer for subject prefix p (e.g. "dispatch").
func NewWriter(js jetstream.JetStream, prefix string) *Writer {
	return &Writer{js: js, topo: schemas.Topology{Prefix: prefix}, timeout: 30 * time.Second}
}

// DeadLetter stores rec on <p>.dlq.<target>.
func (w *Writer) DeadLetter(ctx context.Context, rec *schemas.DeadLetter, msgID string) error {
	data, cut, err := fitDeadLetter(rec, int(w.js.Conn().MaxPayload()))
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	m := recordMsg(w.topo.DLQSubject(rec.Target), data, rec.Reason, rec.ErrorClass, rec.Job, msgID)
	if cut != "" {
		m.Header.Set(schemas.HeaderTruncated, cut)
	}
	return w.publish(ctx, m)
}

// Fallback stores rec on <p>.fallback.<target>.
func (w *Writer) Fallback(ctx context.Context, rec *schemas.Fallback, msgID string) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode fallback record: %w", err)
	}
	return w.publish(ctx, recordMsg(w.topo.FallbackSubject(rec.Target), data, rec.Reason, schemas.ClassCircuitOpen, rec.Job, msgID))
}

// recordMsg is the message of a record: its JSON data with the headers
// that let a listing filter without decoding it, and the msg id that makes
// a second write of the same record a duplicate.
func recordMsg(subject string, data []byte, reason, class string, job json.RawMessage, msgID string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(schemas.HeaderReason, reason)
	m.Header.Set(schemas.HeaderErrorClass, class)
	if id := jobID(job); id != "" {
		m.Header.Set(schemas.HeaderJobID, id)
	}
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	return m
}

// publish retries transient failures (no responders while a stream leader is
// elected, a reconnect, a timeout) with exponential backoff until the
// writer's timeout; the caller keeps the job un-acked when this fails.
func (w *Writer) publish(ctx context.Context, m *nats.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = 2 * time.Second
	b.MaxElapsedTime = 0
	op := func() error {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		defer acancel()
		_, err := w.js.PublishMsg(actx, m)
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.Code != 408 {
			return backoff.Permanent(err) // a refusal, not a hiccup
		}
		return err
	}
	if err := backoff.Retry(op, backoff.WithContext(b, ctx)); err != nil {
		return fmt.Errorf("%w on %s: %w", ErrNotStored, m.Subject, err)
	}
	return nil
}

func jobID(job json.RawMessage) string {
	if len(job) == 0 {
		return ""
	}
	var v struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(job, &v) != nil {
		return ""
	}
	s, _ := v.ID.(string)
	return s
}
