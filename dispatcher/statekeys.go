package dispatcher

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/worker"
)

// stateKeyName is the key of the fleet's retry-state MAC key in the keys
// bucket.
const stateKeyName = "state"

// stateKeys returns the keys of the retry state's MAC (worker/statemac.go):
// security.state_keys when the config has them; otherwise the fleet's own,
// a random 32-byte key the first instance puts in the <b>_keys KV bucket
// and every instance reads. Publishers need no access to that bucket.
func stateKeys(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, sec worker.Security, replicas int) (worker.StateKeys, error) {
	if len(sec.StateKeys) > 0 {
		keys := make(worker.StateKeys, len(sec.StateKeys))
		for i, k := range sec.StateKeys {
			keys[i] = []byte(k)
		}
		return keys, nil
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: topo.KeysBucket(), Description: "dispatcher keys shared by the fleet (the retry state's MAC)",
		History: 1, Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", topo.KeysBucket(), err)
	}
	var fresh [32]byte
	if _, err := rand.Read(fresh[:]); err != nil {
		return nil, err
	}
	if _, err := kv.Create(ctx, stateKeyName, []byte(base64.StdEncoding.EncodeToString(fresh[:]))); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("kv %s: %w", topo.KeysBucket(), err)
	}
	e, err := kv.Get(ctx, stateKeyName)
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", topo.KeysBucket(), err)
	}
	key, err := base64.StdEncoding.DecodeString(string(e.Value()))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("kv %s: key %q is not a base64 key of 16 bytes or more", topo.KeysBucket(), stateKeyName)
	}
	return worker.StateKeys{key}, nil
}
