package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// pullWait bounds one pull request: an idle target renews its pull this
// often (the server's heartbeats in between tell a lost request apart).
const pullWait = 5 * time.Second

// Start begins pulling from conss (the target's durable consumers: its jobs
// and its scheduled copies) into the worker's lane (lane.go). It returns
// at once.
func (w *Worker) Start(conss ...jetstream.Consumer) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return fmt.Errorf("worker %s: already started", w.t.Name)
	}
	w.started = true
	if len(conss) == 0 {
		return fmt.Errorf("worker %s: no consumer", w.t.Name)
	}
	if ci := conss[0].CachedInfo(); ci != nil {
		w.stream, w.consumer = ci.Stream, ci.Name
	}
	w.stopping = make(chan struct{})
	w.keeperDone = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	w.stopPull = cancel
	for _, cons := range conss {
		w.pulling.Add(1)
		go w.pull(ctx, cons)
	}
	go w.keeper()
	return nil
}

// pull fetches into the lane what the lane has room for, until Stop: a
// delivery is either in the lane (running, or waiting and kept fresh) or
// still on the server, never in a buffer where its AckWait runs unseen.
func (w *Worker) pull(ctx context.Context, cons jetstream.Consumer) {
	defer w.pulling.Done()
	failures := 0
	for ctx.Err() == nil {
		n, roomy := w.lane.room()
		if n < max(1, capacity(w.lane.limitNow())/4) {
			select {
			case <-roomy:
			case <-ctx.Done():
			}
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, pullWait)
		batch, err := cons.Fetch(n, jetstream.FetchContext(fctx))
		if err == nil {
			for m := range batch.Messages() {
				w.dispatch(m)
			}
			err = batch.Error()
		}
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || ctx.Err() != nil {
			failures = 0
			continue
		}
		failures++
		w.o.log.Warn("pull", zap.Error(err), zap.Int("failures", failures))
		select {
		case <-time.After(min(time.Duration(failures)*250*time.Millisecond, 5*time.Second)):
		case <-ctx.Done():
		}
	}
}

// dispatch hands a delivery to the lane, or back when the lane is closed.
func (w *Worker) dispatch(m jetstream.Msg) {
	if !w.lane.offer(m) {
		w.handBack(m)
	}
}

// keeper keeps the lane's waiting deliveries fresh until Stop.
func (w *Worker) keeper() {
	defer close(w.keeperDone)
	t := time.NewTicker(keepEvery(w.ackWait))
	defer t.Stop()
	for {
		select {
		case <-w.stopping:
			return
		case <-t.C:
			w.lane.keep()
		}
	}
}

// Stop stops pulling, hands back what waits, lets in-flight calls finish
// until ctx is done, then cancels what is left and hands it back for
// redelivery. It returns when every goroutine of the worker has ended.
func (w *Worker) Stop(ctx context.Context) {
	w.stopOnce.Do(func() {
		defer close(w.closed)
		w.mu.Lock()
		if !w.started {
			w.mu.Unlock()
			return
		}
		close(w.stopping)
		w.mu.Unlock()
		w.stopPull()
		w.pulling.Wait()
		<-w.keeperDone
		waiting, delayed := w.lane.close()
		for _, m := range waiting {
			w.handBack(m)
		}
		for _, h := range delayed {
			// A retry waited out in place: stored as a scheduled copy, so
			// that its attempts stay counted.
			w.scheduleAndAck(h.j, h.at, "", nil)
		}
		done := make(chan struct{})
		go func() { w.lane.wait(); close(done) }()
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

// AckWait is the consumer AckWait for target t: a call (at most one total
// timeout) with a wide margin. Deliveries waiting in the lane for a slot, a
// rate-limit token or a probe are refreshed with InProgress, so the wait
// does not count against it.
func AckWait(t Target) time.Duration {
	return 4*t.withDefaults().Timeouts.Total + 10*time.Second
}
