package worker

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// retryDelay is the wait before attempt n+1 after n failed attempts (n >= 1):
// cenkalti/backoff's exponential delay with jitter, unless the target asked
// for a Retry-After, which wins but is capped by max_retry_after.
func retryDelay(p RetryPolicy, n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, p.MaxRetryAfter)
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.InitialInterval,
		RandomizationFactor: p.Randomization,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.MaxInterval,
		MaxElapsedTime:      0, // elapsed time is checked against the job's first attempt, which survives restarts
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	var d time.Duration
	for range min(n, 64) {
		d = b.NextBackOff()
	}
	return d
}
