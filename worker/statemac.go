package worker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/schemas"
)

// A job's retry state travels in Dispatch-* headers of its scheduled
// copies, and publishers can write any header. So the state is trusted only
// with a valid MAC: HMAC-SHA256, under a key the fleet shares
// (security.state_keys, or one the service keeps in a KV bucket), over the
// job's bytes, the state's headers and the delivery that wrote them
// (Dispatch-State-From). A copy without one — a publisher's forgery, or a
// copy written by a version before the MAC — is a fresh job: its state
// headers are ignored.

// StateKeys are the keys of the retry state's MAC: the first signs, every
// one verifies (a rotation adds the new key first and drops the old one
// once no copy signed with it can remain). Never printed.
type StateKeys [][]byte

// String keeps the keys out of logs and error messages.
func (StateKeys) String() string { return "worker.StateKeys([REDACTED])" }

// GoString keeps the keys out of %#v.
func (k StateKeys) GoString() string { return k.String() }

// ErrStateKey is wrapped when a state key cannot be used.
var ErrStateKey = errors.New("invalid state key")

// minStateKey is the shortest state key accepted, in bytes.
const minStateKey = 16

// WithStateKeys sets the keys of the retry state's MAC. Without it a worker
// trusts no retry state (every delivery is a fresh job) and signs nothing.
func WithStateKeys(keys StateKeys) Option {
	return func(o *options) error {
		for i, k := range keys {
			if len(k) < minStateKey {
				return fmt.Errorf("%w: %w: key %d is %d bytes, want at least %d", ErrInvalidOption, ErrStateKey, i, len(k), minStateKey)
			}
		}
		o.stateKeys = keys
		return nil
	}
}

// stateMAC is the MAC of the state headers of h for data under key.
func stateMAC(key []byte, h nats.Header, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	sum := sha256.Sum256(data)
	m.Write([]byte("dispatch-state-v1\n"))
	for _, name := range []string{schemas.HeaderStateFrom, schemas.HeaderAttempts, schemas.HeaderFirstAttemptAt, schemas.HeaderTraceID, schemas.HeaderHistory} {
		v := h.Get(name)
		fmt.Fprintf(m, "%s:%d:%s\n", name, len(v), v)
	}
	if v := h.Get(schemas.HeaderParks); v != "" {
		// Covered when present, so that copies signed before the header
		// existed keep their MAC.
		fmt.Fprintf(m, "%s:%d:%s\n", schemas.HeaderParks, len(v), v)
	}
	m.Write(sum[:])
	return m.Sum(nil)
}

// signState adds to h, the headers of a scheduled copy carrying data, the
// delivery it comes from and the MAC of its state.
func (w *Worker) signState(h nats.Header, from string, data []byte) {
	if len(w.o.stateKeys) == 0 {
		return
	}
	h.Set(schemas.HeaderStateFrom, from)
	h.Set(schemas.HeaderStateMAC, base64.RawURLEncoding.EncodeToString(stateMAC(w.o.stateKeys[0], h, data)))
}

// trustedState returns the retry state of a delivery's headers h and data
// when it carries a valid MAC, and a fresh state (no attempts, no history;
// its trace id only if valid) otherwise.
func (w *Worker) trustedState(h nats.Header, data []byte) (retryState, bool) {
	if h.Get(schemas.HeaderAttempts) == "" && h.Get(schemas.HeaderFirstAttemptAt) == "" &&
		h.Get(schemas.HeaderHistory) == "" && h.Get(schemas.HeaderTraceID) == "" && h.Get(schemas.HeaderParks) == "" {
		return retryState{}, true // nothing claimed
	}
	if w.signed(h, data) {
		return readState(h), true
	}
	return retryState{}, false
}

// signed reports whether h carries a valid MAC for its state and data under
// one of the worker's keys.
func (w *Worker) signed(h nats.Header, data []byte) bool {
	got, err := base64.RawURLEncoding.DecodeString(h.Get(schemas.HeaderStateMAC))
	if err != nil || len(got) == 0 {
		return false
	}
	for _, k := range w.o.stateKeys {
		if hmac.Equal(got, stateMAC(k, h, data)) {
			return true
		}
	}
	return false
}
