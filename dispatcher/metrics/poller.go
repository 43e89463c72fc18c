package metrics

import (
	"context"
	"sync"
	"time"
)

// LagSource reads the backlog: the configured targets' and the
// partitions' consumers'.
type LagSource func(ctx context.Context) (Backlog, error)

// PollerSettings tune a Poller. The zero value polls every 5s with a 5s
// bound on each reading.
type PollerSettings struct {
	// Every is the interval between readings (default 5s).
	Every time.Duration
	// Timeout bounds one reading (default 5s, at most Every).
	Timeout time.Duration
	// OnError, when set, is told of a failed reading.
	OnError func(error)
	// OnReading, when set, is given each reading after the gauges were
	// set from it, with the time it was taken.
	OnReading func(Backlog, time.Time)
}

// Poller copies the backlog read from JetStream into m's gauges at a fixed
// interval, until Stop.
type Poller struct {
	m      *Metrics
	src    LagSource
	set    PollerSettings
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewPoller returns a Poller of src into m; Start starts it.
func NewPoller(m *Metrics, src LagSource, set PollerSettings) *Poller {
	if set.Every <= 0 {
		set.Every = 5 * time.Second
	}
	if set.Timeout <= 0 {
		set.Timeout = 5 * time.Second
	}
	set.Timeout = min(set.Timeout, set.Every)
	return &Poller{m: m, src: src, set: set, done: make(chan struct{})}
}

// Start reads once at once, then every interval, in a goroutine of its own.
func (p *Poller) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
}

func (p *Poller) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.set.Every)
	defer t.Stop()
	for {
		p.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Poller) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.set.Timeout)
	defer cancel()
	b, err := p.src(ctx)
	if err != nil {
		p.m.lagErrors.Inc()
		if p.set.OnError != nil {
			p.set.OnError(err)
		}
		return
	}
	p.m.SetBacklog(b)
	if p.set.OnReading != nil {
		p.set.OnReading(b, time.Now())
	}
}

// Stop stops polling and waits for a reading in progress (bounded by the
// reading's timeout). Stop before Start, or twice, does nothing more.
func (p *Poller) Stop() {
	p.once.Do(func() {
		if p.cancel == nil {
			close(p.done)
			return
		}
		p.cancel()
	})
	<-p.done
}

// Closed is closed once the Poller has stopped.
func (p *Poller) Closed() <-chan struct{} { return p.done }
