package worker

import (
	"sync"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
	"go.uber.org/zap"
)

// Shape of the retry budget's sliding window: six buckets of ten seconds.
const (
	budgetBucket  = 10 * time.Second
	budgetBuckets = 6
	// RetryBudgetFloor is the number of retries a budget always allows per
	// window (ten a second over the minute, as Finagle's RetryBudget),
	// however few calls were made: a quiet target, or a burst of failures
	// after the traffic stopped, still retries at a modest pace. (A floor of
	// 10 per minute starved TestConservation: 50% of 1,200 jobs fail once
	// and their retries trickled at 10 a minute once the fresh jobs ended.)
	RetryBudgetFloor = 10 * budgetBuckets * int(budgetBucket/time.Second)
)

// Health rule of the budget: a target is healthy, and its retries are not
// limited, while at least healthyRatio of the calls that completed in the
// window were answered (anything but a failure that counts against a
// breaker) and they took on average under half the total timeout, once
// healthyMinCalls completed.
const (
	healthyRatio    = 0.5
	healthyMinCalls = 20
)

// retryBudget keeps retries from piling onto a sick target. Over a sliding
// window of budgetBuckets buckets of budgetBucket each it allows a retry
// while the target is healthy (most calls answered, promptly: a flaky but
// fast target's retries flow), and otherwise up to a ratio of recent calls,
// never below a floor. A nil *retryBudget allows every retry.
type retryBudget struct {
	ratio   float64
	floor   int
	slowest time.Duration // a mean call time at or over this is not healthy

	mu       sync.Mutex
	calls    [budgetBuckets]int
	retries  [budgetBuckets]int
	answered [budgetBuckets]int           // completed calls that were not failures
	failed   [budgetBuckets]int           // completed calls that were failures
	took     [budgetBuckets]time.Duration // time of the completed calls
	epoch    [budgetBuckets]int64         // which bucket period each slot holds
}

// newRetryBudget returns the budget of p for calls bounded by total; nil
// (no budget) with NoBudget.
func newRetryBudget(p RetryPolicy, total time.Duration) *retryBudget {
	if p.NoBudget {
		return nil
	}
	return &retryBudget{ratio: p.BudgetRatio, floor: RetryBudgetFloor, slowest: total / 2}
}

// slot returns the slot of now's bucket, clearing it when it held an older
// period.
func (b *retryBudget) slot(now time.Time) int {
	e := now.UnixNano() / int64(budgetBucket)
	i := int(e % budgetBuckets)
	if b.epoch[i] != e {
		b.epoch[i], b.calls[i], b.retries[i] = e, 0, 0
		b.answered[i], b.failed[i], b.took[i] = 0, 0, 0
	}
	return i
}

// sums returns the calls and retries of the window ending at now.
func (b *retryBudget) sums(now time.Time) (calls, retries int) {
	e := now.UnixNano() / int64(budgetBucket)
	for i := range budgetBuckets {
		if e-b.epoch[i] < budgetBuckets {
			calls += b.calls[i]
			retries += b.retries[i]
		}
	}
	return calls, retries
}

// done records the end of a call at now: answered unless it failed in a way
// that counts against a breaker, after took.
func (b *retryBudget) done(now time.Time, answered bool, took time.Duration) {
	if b == nil {
		return
	}
	b.mu.Lock()
	i := b.slot(now)
	if answered {
		b.answered[i]++
	} else {
		b.failed[i]++
	}
	b.took[i] += took
	b.mu.Unlock()
}

// healthy reports whether the window ending at now shows a healthy target.
func (b *retryBudget) healthy(now time.Time) bool {
	e := now.UnixNano() / int64(budgetBucket)
	var answered, failed int
	var took time.Duration
	for i := range budgetBuckets {
		if e-b.epoch[i] < budgetBuckets {
			answered += b.answered[i]
			failed += b.failed[i]
			took += b.took[i]
		}
	}
	n := answered + failed
	return n >= healthyMinCalls && float64(answered) >= healthyRatio*float64(n) &&
		took/time.Duration(n) < b.slowest
}

// call records a call (first attempt or retry) made at now.
func (b *retryBudget) call(now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.calls[b.slot(now)]++
	b.mu.Unlock()
}

// allowRetry reports whether a retry may be made at now and, if so, counts
// it as a retry; when not, it returns when to try again: the start of the
// next bucket, when the oldest bucket leaves the window.
func (b *retryBudget) allowRetry(now time.Time) (bool, time.Time) {
	if b == nil {
		return true, time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.slot(now)
	calls, retries := b.sums(now)
	// The retry about to be made counts among the calls it is measured
	// against: retries/calls stays at or under ratio once it is made.
	if retries < b.floor || float64(retries+1) <= b.ratio*float64(calls+1) || b.healthy(now) {
		b.retries[i]++
		return true, time.Time{}
	}
	next := time.Unix(0, (now.UnixNano()/int64(budgetBucket)+1)*int64(budgetBucket))
	return false, next
}

// postpone schedules a retry that is over the retry budget for at, without
// attempting it or counting an attempt, and acks the delivery.
func (w *Worker) postpone(j *job, at time.Time) {
	if w.scheduleAndAck(j, at, schemas.ParkBudget, nil) {
		w.o.log.Info("retry postponed: over the retry budget",
			zap.String("job_id", j.job.ID), zap.String("trace_id", j.state.traceID),
			zap.Int("attempt", j.state.attempts), zap.Time("next_attempt_at", at))
	}
}
