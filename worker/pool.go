package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Start begins consuming from cons (the target's durable consumer) with
// Concurrency goroutines. It returns at once.
func (w *Worker) Start(cons jetstream.Consumer) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return fmt.Errorf("worker %s: already started", w.t.Name)
	}
	w.started = true
	if ci := cons.CachedInfo(); ci != nil {
		w.stream, w.consumer = ci.Stream, ci.Name
	}
	w.msgs = make(chan delivery)
	w.stopping = make(chan struct{})
	w.drained = make(chan struct{})
	w.hardCtx, w.hardStop = context.WithCancel(context.Background())
	for i := range w.t.Concurrency {
		w.wg.Add(1)
		go w.loop(int32(i))
	}
	w.cons, w.batch = cons, pullBatch(int(w.active.Load()))
	cc, err := w.consume(w.batch)
	if err != nil {
		close(w.drained)
		w.hardStop()
		w.wg.Wait()
		return fmt.Errorf("worker %s: consume: %w", w.t.Name, err)
	}
	w.cc = cc
	return nil
}

// consume starts consuming with batch messages pulled ahead.
func (w *Worker) consume(batch int) (jetstream.ConsumeContext, error) {
	return w.cons.Consume(w.dispatch,
		jetstream.PullMaxMessages(batch),
		// A short expiry keeps heartbeats at 2.5s: a pull request the client
		// lost track of is noticed and renewed within 5s (the 30s default
		// was seen to stall a target for 30s under load).
		jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			w.o.log.Warn("consume", zap.Error(err))
		}))
}

// repull resizes the pull-ahead buffer to batch when the active pool size
// changed (a fleet quota): a buffer sized for the whole pool would hold jobs
// longer than AckWait allows behind a smaller one. A new Consume starts, then
// the old one drains: its buffered jobs still reach dispatch. On failure the
// old one keeps going.
func (w *Worker) repull(batch int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || w.cc == nil || w.batch == batch {
		return
	}
	select {
	case <-w.stopping:
		return
	default:
	}
	cc, err := w.consume(batch)
	if err != nil {
		w.o.log.Warn("resize pull buffer", zap.Int("batch", batch), zap.Error(err))
		return
	}
	old := w.cc
	w.cc, w.batch = cc, batch
	old.Drain()
}

// dispatch is the Consume callback: it runs serially and hands each message
// to a free goroutine of the pool, blocking while all are busy.
func (w *Worker) dispatch(m jetstream.Msg) {
	select {
	case <-w.stopping:
		w.handBack(m)
		return
	default:
	}
	select {
	case w.msgs <- delivery{m: m, at: time.Now()}:
	case <-w.stopping:
		w.handBack(m)
	}
}

// delivery is a message handed to the pool with the time it reached us.
type delivery struct {
	m  jetstream.Msg
	at time.Time
}

// loop is goroutine i of the pool. While i is not below the active count
// (a fleet quota smaller than Concurrency) it parks until that changes.
func (w *Worker) loop(i int32) {
	defer w.wg.Done()
	for {
		// Load the channel first: a change after it closes this one.
		ch := w.limitChanged.Load()
		if i >= w.active.Load() {
			select {
			case <-*ch:
			case <-w.drained:
				return
			}
			continue
		}
		select {
		case <-*ch:
			continue // the quota changed: check it again
		case d := <-w.msgs:
			if time.Since(d.at) > w.ackWait/3 {
				// It waited behind a full pool long enough for its AckWait to
				// matter: restart the clock before the call.
				w.inProgress(d.m)
			}
			w.handle(d.m)
		case <-w.drained:
			return
		}
	}
}

// inProgress restarts a waiting delivery's AckWait; a failure only logs (the
// worst case is a redelivery, recognised by admit).
func (w *Worker) inProgress(m jetstream.Msg) {
	if err := m.InProgress(); err != nil {
		w.o.log.Debug("in progress", zap.Error(err))
	}
}

// Stop stops fetching, lets in-flight calls finish until ctx is done, then
// cancels what is left and hands it back for redelivery. It returns when every
// goroutine of the worker has ended.
func (w *Worker) Stop(ctx context.Context) {
	w.stopOnce.Do(func() {
		defer close(w.closed)
		w.mu.Lock()
		if !w.started {
			w.mu.Unlock()
			return
		}
		close(w.stopping) // under mu: repull starts no Consume after this
		cc := w.cc
		w.mu.Unlock()
		if cc != nil {
			cc.Drain() // buffered messages reach dispatch, which hands them back
			select {
			case <-cc.Closed():
			case <-ctx.Done():
				cc.Stop()
			case <-time.After(5 * time.Second):
				cc.Stop()
			}
		}
		close(w.drained)
		done := make(chan struct{})
		go func() { w.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			w.o.log.Warn("shutdown timeout: cancelling in-flight calls")
			w.hardStop()
			<-done
		}
		w.hardStop()
		w.client.CloseIdleConnections()
	})
}

// Closed is closed once Stop has finished.
func (w *Worker) Closed() <-chan struct{} { return w.closed }

// pullBatch is how many messages the client keeps requested ahead of the
// pool: four per worker. Measured in the drain benchmark (64 workers): one
// per worker stalled the consumer now and then until the missing-heartbeat
// check renewed its pull; two per worker ran at 0.98-1.02x the naive
// consumer's jobs/s, four at 1.07x with 5% less CPU per job. AckWait is sized
// for the wait this buffer can add.
func pullBatch(concurrency int) int { return max(4*concurrency, 16) }

// AckWait is the consumer AckWait for target t. A message may wait in the
// client buffer (pullBatch: four per worker) behind about four rounds of
// calls, each at most one total timeout, before a worker takes it; a worker
// that takes a message which waited over a third of AckWait restarts its
// clock with InProgress, and its own call then fits easily.
func AckWait(t Target) time.Duration {
	return 4*t.withDefaults().Timeouts.Total + 10*time.Second
}
