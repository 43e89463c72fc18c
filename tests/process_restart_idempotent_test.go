package tests

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessRestartIdempotent checks that starting the service again
// leaves its streams and consumers as they were: same config, same
// creation time.
func TestProcessRestartIdempotent(t *testing.T) {
	t.Parallel()
	bin := testenv.Binary(t)
	b := testenv.NewBroker(t)
	sink := testenv.NewSink(t)
	cfg := testenv.WriteConfig(t, b.Config(testenv.Targets(testenv.M{
		"a": testenv.Target(sink.URL),
		"b": testenv.Target(sink.URL, testenv.M{"concurrency": 3, "timeouts": testenv.M{"total": "2s"}}),
	})))

	type snapshot struct {
		streams   map[string]jetstream.StreamInfo
		consumers map[string]jetstream.ConsumerInfo
	}
	take := func() snapshot {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s := snapshot{streams: map[string]jetstream.StreamInfo{}, consumers: map[string]jetstream.ConsumerInfo{}}
		for _, name := range []string{testenv.JobsStream, testenv.DLQStream, testenv.FallbackStream} {
			st, err := b.JS.Stream(ctx, name)
			if err != nil {
				t.Fatalf("stream %s: %v", name, err)
			}
			s.streams[name] = *st.CachedInfo()
		}
		for _, tg := range []string{"a", "b"} {
			s.consumers[tg] = *testenv.ConsumerInfo(t, b.JS, tg)
		}
		return s
	}
	run := func() {
		t.Helper()
		p := testenv.StartProcess(t, bin, "serve", "--config", cfg)
		p.WaitReady(t)
		p.Terminate(t)
		if code := p.Wait(t, 15*time.Second); code != 0 {
			t.Fatalf("exit status %d after SIGTERM, want 0", code)
		}
	}

	run()
	first := take()
	run()
	second := take()
	for name, a := range first.streams {
		z := second.streams[name]
		if !reflect.DeepEqual(a.Config, z.Config) {
			t.Errorf("stream %s config changed by a second start:\n%+v\n%+v", name, a.Config, z.Config)
		}
		if !a.Created.Equal(z.Created) {
			t.Errorf("stream %s re-created: %s then %s", name, a.Created, z.Created)
		}
	}
	for tg, a := range first.consumers {
		z := second.consumers[tg]
		if !reflect.DeepEqual(a.Config, z.Config) {
			t.Errorf("consumer %s config changed by a second start:\n%+v\n%+v", a.Name, a.Config, z.Config)
		}
		if !a.Created.Equal(z.Created) {
			t.Errorf("consumer %s re-created: %s then %s", a.Name, a.Created, z.Created)
		}
	}
}
