package testenv

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
)

// Bounds of starting and stopping an in-process service.
const (
	readyTimeout = 30 * time.Second
	stopMargin   = 15 * time.Second
)

// Running is a dispatcher service run in-process by RunService.
type Running struct {
	// Service is the running service (NATSURL, HTTPAddr).
	*dispatcher.Service
	// Config is the parsed config it runs with.
	Config *config.Config
	// Logs holds what the service logged at info level and above, unless
	// the caller passed its own logger.
	Logs *LogBuffer

	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	err      error
}

// RunService parses yamlText (with the process environment), runs
// dispatcher.Run in a goroutine and returns once the service is ready
// (bounded). opts come after the default logger, so a WithLogger among them
// wins. At cleanup the service is stopped (bounded) and, when the test
// failed, the tail of its logs is printed.
func RunService(t testing.TB, yamlText string, opts ...dispatcher.Option) *Running {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText), os.LookupEnv)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yamlText)
	}
	log, buf := NewLogger(zapcore.InfoLevel)
	ready := make(chan *dispatcher.Service, 1)
	all := append([]dispatcher.Option{dispatcher.WithLogger(log)}, opts...)
	all = append(all, dispatcher.OnReady(func(s *dispatcher.Service) { ready <- s }))
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Config: cfg, Logs: buf, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- dispatcher.Run(ctx, cfg, all...) }()
	t.Cleanup(func() {
		r.Stop(t)
		if t.Failed() {
			t.Logf("service logs (tail):\n%s", buf.Tail(40))
		}
	})
	select {
	case s := <-ready:
		r.Service = s
	case err := <-r.done:
		cancel()
		t.Fatalf("dispatcher.Run returned before ready: %v", err)
	case <-time.After(readyTimeout):
		t.Fatalf("service not ready within %s", readyTimeout)
	}
	return r
}

// Stop cancels the service and waits (bounded by its shutdown timeout plus a
// margin) for Run to return; it fails the test when Run returned an error.
// Calling it again does nothing.
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.stopOnce.Do(func() {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 2*time.Second {
				t.Logf("service took %s to stop", d.Round(time.Millisecond))
			}
		}()
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(r.Config.ShutdownTimeout + stopMargin):
			t.Errorf("dispatcher.Run did not return within %s of cancel", r.Config.ShutdownTimeout+stopMargin)
			return
		}
		if r.err != nil {
			t.Errorf("dispatcher.Run: %v", r.err)
		}
	})
}
