package worker

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignerMatchesStandardWebhooksVector(t *testing.T) {
	s, err := NewSigner(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("Sign = %q, want %q", got, vectorSignature)
	}
	h := http.Header{}
	s.Apply(h, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody))
	if h.Get("webhook-id") != vectorID || h.Get("webhook-timestamp") != "1614265330" || h.Get("webhook-signature") != vectorSignature {
		t.Fatalf("headers %v", h)
	}
	// The prefix is optional.
	bare, err := NewSigner(strings.TrimPrefix(vectorSecret, "whsec_"))
	if err != nil || bare.Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody)) != vectorSignature {
		t.Fatalf("secret without prefix: %v", err)
	}
}

func TestSignerRotationSignsWithEveryKey(t *testing.T) {
	s, err := NewSigner(vectorSecret, "whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(s.Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody)), " ")
	if len(parts) != 2 || parts[0] != vectorSignature || !strings.HasPrefix(parts[1], "v1,") || parts[1] == parts[0] {
		t.Fatalf("signatures %v", parts)
	}
}

func TestNewSignerRejectsBadSecrets(t *testing.T) {
	for name, secret := range map[string]string{"not base64": "whsec_not base64!", "too short": "whsec_c2hvcnQ=", "empty": ""} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewSigner(secret); !errors.Is(err, ErrInvalidSecret) {
				t.Fatalf("NewSigner(%q) = %v, want ErrInvalidSecret", secret, err)
			}
		})
	}
	if _, err := NewSigner(); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("NewSigner() = %v", err)
	}
}

func TestSignerNeverPrintsItsKeys(t *testing.T) {
	s, _ := NewSigner(vectorSecret)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(out, "MfKQ9r8") {
			t.Fatalf("printed a key: %q", out)
		}
	}
}
