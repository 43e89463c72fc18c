package worker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Settle markers close the window between storing a delivery's outcome and
// acking the delivery. Every outcome that is stored before the ack — a
// scheduled copy (retry, postponement, hold), a dead letter, a fallback
// record — is written in one atomic batch with a marker on
// <p>.settled.<kind>.<stream>.<seq> in the same stream. A copy of the
// delivery redelivered after a crash in that window finds the marker in
// admit and is acked without a call, whether the scheduled copy already
// fired (the server purges a fired @at schedule) and however long after
// the stream's duplicate window it comes. Markers expire on their own
// (Nats-TTL), long after any redelivery could come.

// marker is the settle marker of delivery j for an outcome of kind whose
// record has message id msgID. A result for replyTo travels with it when
// small enough, so that a redelivered copy can send it again.
func (w *Worker) marker(j *job, kind, msgID, replyTo string, result []byte) *nats.Msg {
	mark := settledMark{MsgID: msgID, At: w.o.now().UTC(), Instance: w.o.instance}
	if replyTo != "" && len(result) <= maxMarkerResult {
		mark.ReplyTo, mark.Result = replyTo, result
	}
	return settleMsg(w.o.topo, kind, j.meta.Stream, j.seq, mark, markerTTL(w.ackWait))
}

// maxMarkerResult is the largest result a settle marker carries.
const maxMarkerResult = 16 << 10

// SettleMarker is the settle marker of the delivery with sequence seq of
// stream, for an outcome of kind stored with message id msgID by instance
// at now, kept for ttl. Whoever stores an outcome before acking (the
// workers, the orphan sweeper) writes one with it.
func SettleMarker(topo schemas.Topology, kind, stream, seq, msgID, instance string, ttl time.Duration, now time.Time) *nats.Msg {
	return settleMsg(topo, kind, stream, seq, settledMark{MsgID: msgID, At: now.UTC(), Instance: instance}, ttl)
}

func settleMsg(topo schemas.Topology, kind, stream, seq string, mark settledMark, ttl time.Duration) *nats.Msg {
	m := nats.NewMsg(topo.SettledSubject(kind, stream, seq))
	m.Data, _ = json.Marshal(mark)
	m.Header.Set(jetstream.MsgTTLHeader, ttl.String())
	return m
}

// settledMark is the body of a settle marker.
type settledMark struct {
	MsgID    string    `json:"msg_id"`
	At       time.Time `json:"at"`
	Instance string    `json:"instance"`
	// ReplyTo and Result are the job's result, sent once the outcome was
	// stored; a redelivered copy sends it again (a crash may have lost it).
	ReplyTo string          `json:"reply_to,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// markerTTL is how long a marker is kept: twice AckWait and ten minutes, far
// past the redelivery of a delivery whose ack was lost.
func markerTTL(ackWait time.Duration) time.Duration {
	return (2*ackWait + 10*time.Minute).Round(time.Second)
}

// settledBefore reports whether an earlier delivery of j's message stored
// its outcome, and which; the result that delivery meant to send is sent
// again. Errors count as "no": the worst case is one call more, and then a
// second outcome only if storing it again is not caught as a duplicate.
func (w *Worker) settledBefore(j *job) (kind string, ok bool) {
	ctx, cancel := context.WithTimeout(w.hardCtx, 5*time.Second)
	defer cancel()
	for _, kind := range schemas.SettledKinds {
		st, err := w.streamHandle(ctx, w.o.topo.SettledStream(kind))
		if err != nil {
			continue
		}
		m, err := st.GetLastMsgForSubject(ctx, w.o.topo.SettledSubject(kind, j.meta.Stream, j.seq))
		if err != nil {
			continue
		}
		var mark settledMark
		if json.Unmarshal(m.Data, &mark) == nil && mark.ReplyTo != "" && len(mark.Result) > 0 {
			w.sendResult(mark.ReplyTo, j.job.ID, mark.Result)
		}
		return kind, true
	}
	return "", false
}

// streamHandle returns a handle on the named stream, looked up once.
func (w *Worker) streamHandle(ctx context.Context, name string) (jetstream.Stream, error) {
	w.streamsMu.Lock()
	defer w.streamsMu.Unlock()
	if st, ok := w.streams[name]; ok {
		return st, nil
	}
	st, err := w.js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	if w.streams == nil {
		w.streams = map[string]jetstream.Stream{}
	}
	w.streams[name] = st
	return st, nil
}

// crashAfterStore is a test seam: builds with the crashhook tag kill the
// process here, between storing an outcome and acking its delivery.
var crashAfterStore = func(kind string) {}
