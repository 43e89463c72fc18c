package worker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (the Standard Webhooks specification; contract section 2 lists them).
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
)

// ErrInvalidSecret is wrapped when a signing secret cannot be used.
var ErrInvalidSecret = errors.New("invalid signing secret")

// Signer signs requests with the Standard Webhooks scheme: HMAC-SHA256 over
// "<id>.<unix seconds>.<body>", sent as "v1,<base64>" (one entry per key,
// space-separated, so a receiver can rotate secrets). It never prints its
// keys.
type Signer struct {
	keys [][]byte
}

// NewSigner takes one or more secrets as "whsec_<base64>" (the prefix is
// optional); at least 16 bytes each once decoded.
func NewSigner(secrets ...string) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret", ErrInvalidSecret)
	}
	s := &Signer{}
	for i, sec := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(sec), "whsec_"))
		if err != nil {
			return nil, fmt.Errorf("%w: secret %d is not base64 after its whsec_ prefix", ErrInvalidSecret, i+1)
		}
		if len(key) < 16 {
			return nil, fmt.Errorf("%w: secret %d is %d bytes, want at least 16", ErrInvalidSecret, i+1, len(key))
		}
		s.keys = append(s.keys, key)
	}
	return s, nil
}

// Sign returns the webhook-signature value for a message.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	unix := strconv.FormatInt(ts.Unix(), 10)
	var b strings.Builder
	for i, key := range s.keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(unix))
		mac.Write([]byte{'.'})
		mac.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}

// Apply sets the three Standard Webhooks headers on h. id should stay the
// same across retries of one message (the job id does), so the receiver can
// deduplicate.
func (s *Signer) Apply(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderWebhookSignature, s.Sign(id, ts, body))
}

// String keeps the keys out of logs and error messages.
func (s *Signer) String() string { return "worker.Signer([REDACTED])" }

// GoString keeps the keys out of %#v.
func (s *Signer) GoString() string { return s.String() }
