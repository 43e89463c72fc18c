package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
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

// DeadLetter stores rec on <p>.dlq.<target>, cut to fit if need be (see
// store). The error wraps ErrTooLarge when even its smallest form is
// refused for its size, ErrNotStored when JetStream did not accept it.
func (w *Writer) DeadLetter(ctx context.Context, rec *schemas.DeadLetter, msgID string) error {
	m := recordMsg(w.topo.DLQSubject(rec.Target), nil, rec.Reason, rec.ErrorClass, rec.Job, msgID)
	return w.store(ctx, m, w.topo.DLQStream(), func(limit int) ([]byte, []string, error) {
		return schemas.FitDeadLetter(rec, limit)
	})
}

// Fallback stores rec on <p>.fallback.<target>, as DeadLetter does.
func (w *Writer) Fallback(ctx context.Context, rec *schemas.Fallback, msgID string) error {
	m := recordMsg(w.topo.FallbackSubject(rec.Target), nil, rec.Reason, schemas.ClassCircuitOpen, rec.Job, msgID)
	return w.store(ctx, m, w.topo.FallbackStream(), func(limit int) ([]byte, []string, error) {
		return schemas.FitFallback(rec, limit)
	})
}

// Schedule stores m, a scheduled copy of a job; retried like a record.
func (w *Writer) Schedule(ctx context.Context, m *nats.Msg) error {
	return w.publish(ctx, m)
}

// recordSlack is kept under the max payload besides the headers a record
// message has when it is fitted: room for its Dispatch-Truncated header
// (at most 45 bytes) and a header or two more.
const recordSlack = 512

// store fits a record into the connection's max payload, less its
// headers, names what was cut in the Dispatch-Truncated header and
// publishes it. A record a stream refuses for its size (the stream's own
// max_msg_size is smaller, error 10054) is fitted again, once, to the
// smaller limit. When even the smallest record is over the limit the
// error wraps ErrTooLarge: a permanent refusal, unlike a full stream.
func (w *Writer) store(ctx context.Context, m *nats.Msg, stream string, fit func(limit int) ([]byte, []string, error)) error {
	limit := w.js.Conn().MaxPayload()
	if limit <= 0 { // not connected yet: publish reports it
		limit = math.MaxInt32
	}
	for refitted := false; ; refitted = true {
		data, cut, err := fit(int(limit) - schemas.HeaderSize(m.Header) - recordSlack)
		if err != nil {
			return fmt.Errorf("encode record for %s: %w", m.Subject, err)
		}
		m.Data = data
		m.Header.Del(schemas.HeaderTruncated)
		if len(cut) > 0 {
			m.Header.Set(schemas.HeaderTruncated, strings.Join(cut, ","))
		}
		err = w.publish(ctx, m)
		if !sizeRefused(err) {
			return err
		}
		smaller := w.sizeLimit(ctx, stream)
		if refitted || smaller <= 0 || smaller >= limit {
			return fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		limit = smaller
	}
}

// sizeRefused reports whether err is a refusal of a message for its size:
// the client's max payload check, or a stream's max_msg_size.
func sizeRefused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrMaxPayload) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
}

// sizeLimit is the largest message stream takes now: the connection's max
// payload, or the stream's max_msg_size when it is smaller; 0 when the
// stream cannot be read.
func (w *Writer) sizeLimit(ctx context.Context, stream string) int64 {
	limit := w.js.Conn().MaxPayload()
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := w.js.Stream(lctx, stream)
	if err != nil {
		return 0
	}
	if n := int64(st.CachedInfo().Config.MaxMsgSize); n > 0 && n < limit {
		limit = n
	}
	return limit
}

// recordMsg is the message of a record: its JSON data with the headers
// that let a listing filter without decoding it, and the msg id that makes
// a second write of the same record a duplicate.
func recordMsg(subject string, data []byte, reason, class string, job json.RawMessage, msgID string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(schemas.HeaderReason, reason)
	m.Header.Set(schemas.HeaderErrorClass, class)
	if id := jobID(job); schemas.ValidJobID(id) { // not an invalid payload's "id" of any size
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
		if errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.Code != 408 ||
			errors.Is(err, nats.ErrMaxPayload) {
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
