package dispatcher_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sony/gobreaker/v2"
)

// kvStore is gobreaker's SharedDataStore on a NATS KV bucket: the
// alternative to fleet.go's publish-and-adopt that the issue asked to weigh.
// Lock is a Create (fails while the key exists), Unlock a Delete.
type kvStore struct{ kv jetstream.KeyValue }

// key makes gobreaker's names ("gobreaker:mutex:x") valid KV keys.
func key(kind, name string) string { return kind + "." + strings.ReplaceAll(name, ":", "_") }

func (s kvStore) Lock(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, err := s.kv.Create(ctx, key("lock", name), nil); err == nil {
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (s kvStore) Unlock(name string) error {
	return s.kv.Delete(context.Background(), key("lock", name))
}

func (s kvStore) GetData(name string) ([]byte, error) {
	e, err := s.kv.Get(context.Background(), key("data", name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

func (s kvStore) SetData(name string, data []byte) error {
	_, err := s.kv.Put(context.Background(), key("data", name), data)
	return err
}

// BenchmarkBreakerPerCall compares what a call pays for its breaker:
// gobreaker's DistributedCircuitBreaker on a NATS KV store (embedded server,
// loopback) against the local two-step breaker fleet.go's adoption sits on.
// The distributed breaker also holds its lock while the request runs, so it
// serialises every call to the target across the fleet.
//
//	go test -run '^$' -bench BreakerPerCall ./dispatcher/
func BenchmarkBreakerPerCall(b *testing.B) {
	srv := natsServer(b)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "bench_breakers", Storage: jetstream.MemoryStorage})
	if err != nil {
		b.Fatal(err)
	}
	ok := func() (struct{}, error) { return struct{}{}, nil }

	b.Run("gobreaker-SharedDataStore-on-KV", func(b *testing.B) {
		dcb, err := gobreaker.NewDistributedCircuitBreaker[struct{}](kvStore{kv}, gobreaker.Settings{Name: "t"})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := dcb.Execute(ok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("local-two-step", func(b *testing.B) {
		cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Name: "t"})
		b.ResetTimer()
		for range b.N {
			done, err := cb.Allow()
			if err != nil {
				b.Fatal(err)
			}
			done(nil)
		}
	})
}
