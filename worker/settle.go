package worker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Settle markers close the window between storing a delivery's outcome and
// acking the delivery. Before an outcome that is stored ahead of the ack —
// a scheduled copy (retry, postponement, hold), a dead letter, a fallback
// record — the worker writes a settle marker on <p>.settled.<key> (key:
// the delivery's stream and sequence) in the scheduling stream: the
// outcome decided, with what is needed to redo it from the delivery's own
// message. Then it stores the outcome, with a message id, then acks.
//
// A copy of the delivery redelivered after a crash anywhere in between
// finds the marker in admit, before any call, and redoes the outcome: it
// stores it again under the same message id — a duplicate, dropped, when
// the first store went through; stored now when the crash came before it —
// and acks. So every job keeps one outcome, whether the scheduled copy
// already fired (the server purges a fired schedule) or not. The streams
// that take these outcomes are the service's own, with a duplicate window
// (the settle window) of at least twice the longest AckWait, the delay of
// such a redelivery; markers expire after the worker's own share of it.
// No delivery is lost: a marker comes before its outcome, never instead.

// Kinds of settled outcomes.
const (
	settleSchedule   = "schedule"
	settleDeadLetter = "dead_letter"
	settleFallback   = "fallback"
)

// settleIntent is what a settle marker holds.
type settleIntent struct {
	Kind  string `json:"kind"`
	MsgID string `json:"msg_id"`
	// State is the job's retry state after the delivery's attempt, as the
	// Dispatch-* headers carry it.
	State map[string]string `json:"state,omitempty"`
	// schedule: when, and why when not a retry (a schemas.ParkReasons)
	At   time.Time `json:"at,omitzero"`
	Park string    `json:"park,omitempty"`
	// dead_letter
	Reason  string `json:"reason,omitempty"`
	Class   string `json:"error_class,omitempty"`
	Error   string `json:"error,omitempty"`
	Status  int    `json:"status,omitempty"`
	Invalid bool   `json:"invalid,omitempty"`
	// fallback; Endpoint is the primary's display form
	BreakerState string `json:"breaker_state,omitempty"`
	Endpoint     string `json:"endpoint,omitempty"`
	// the result to send once stored (a crash may lose it: a redone outcome
	// sends it again); left out when over maxMarkerResult
	ReplyTo string          `json:"reply_to,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	// who wrote it, when
	Instance string    `json:"instance"`
	Written  time.Time `json:"written"`
}

// maxMarkerResult is the largest result a settle marker carries.
const maxMarkerResult = 16 << 10

// markerTTL is how long a marker is kept: twice AckWait and five minutes,
// past any redelivery of a delivery whose ack was lost, and within the
// settle window of the streams the outcome goes to.
func markerTTL(ackWait time.Duration) time.Duration {
	return (2*ackWait + 5*time.Minute).Round(time.Second)
}

// mark writes the settle marker of j (job jobID) announcing in, before in's
// outcome is stored, and reports whether it did. A failure is logged and
// leaves the delivery for redelivery, as a failed store does.
func (w *Worker) mark(j *job, in *settleIntent, jobID string) bool {
	if in.State == nil {
		h := nats.Header{}
		j.state.write(h)
		in.State = make(map[string]string, len(h))
		for k := range h {
			in.State[k] = h.Get(k)
		}
	}
	in.Instance, in.Written = w.o.instance, w.o.now().UTC()
	stored := *in
	if len(stored.Result) > maxMarkerResult {
		stored.ReplyTo, stored.Result = "", nil
	}
	m := nats.NewMsg(w.o.topo.SettledSubject(j.key))
	m.Data, _ = json.Marshal(&stored)
	w.signState(m.Header, j.key, m.Data)
	m.Header.Set(jetstream.MsgTTLHeader, w.markTTL)
	m.Header.Set(jetstream.MsgIDHeader, "settled:"+j.key+":"+in.MsgID)
	ctx, cancel := context.WithTimeout(context.Background(), w.recordTimeout())
	defer cancel()
	if _, err := w.js.PublishMsg(ctx, m); err != nil {
		w.o.log.Error("settle marker not stored; job will be redelivered", zap.String("job_id", jobID), zap.Error(err))
		return false
	}
	return true
}

// settledBefore returns the settle marker of j's delivery, when an earlier
// delivery of the same message wrote one, else nil. Errors count as
// "none": the worst case is one call more, and then a second outcome only
// if this copy decides differently and the first stored its outcome.
func (w *Worker) settledBefore(j *job) *settleIntent {
	ctx, cancel := context.WithTimeout(w.hardCtx, 5*time.Second)
	defer cancel()
	st, err := w.schedStream(ctx)
	if err != nil {
		return nil
	}
	m, err := st.GetLastMsgForSubject(ctx, w.o.topo.SettledSubject(j.key))
	if err != nil {
		return nil
	}
	if len(w.o.stateKeys) > 0 && !w.signed(nats.Header(m.Header), m.Data) {
		w.o.log.Warn("settle marker without a valid MAC ignored; deciding again", zap.String("key", j.key))
		return nil
	}
	var in settleIntent
	if err := json.Unmarshal(m.Data, &in); err != nil || in.Kind == "" {
		w.o.log.Warn("settle marker unreadable; deciding again", zap.String("key", j.key), zap.Error(err))
		return nil
	}
	return &in
}

// redo carries out again the outcome an earlier delivery of j's message
// decided (in), storing it under the same message id, then acks.
func (w *Worker) redo(j *job, in *settleIntent) {
	h := nats.Header{}
	for k, v := range in.State {
		h.Set(k, v)
	}
	traceID := j.state.traceID
	j.state = readState(h)
	if j.state.traceID == "" {
		j.state.traceID = traceID
	}
	w.o.log.Info("outcome already decided by an earlier delivery; redone",
		zap.String("key", j.key), zap.String("settled", in.Kind), zap.String("by", in.Instance))
	switch in.Kind {
	case settleSchedule:
		w.scheduleAndAck(j, in.At, in.Park, in)
	case settleDeadLetter:
		w.deadLetterIntent(j, in)
	case settleFallback:
		w.storeFallback(j, in)
	}
}

// schedStream returns a handle on the scheduling stream, looked up once.
func (w *Worker) schedStream(ctx context.Context) (jetstream.Stream, error) {
	w.streamsMu.Lock()
	defer w.streamsMu.Unlock()
	if w.sched != nil {
		return w.sched, nil
	}
	st, err := w.js.Stream(ctx, w.o.topo.SchedStream())
	if err != nil {
		return nil, err
	}
	w.sched = st
	return st, nil
}

// crashAfterStore is a test seam: builds with the crashhook tag kill the
// process here, between storing an outcome and acking its delivery.
var crashAfterStore = func(kind string) {}
