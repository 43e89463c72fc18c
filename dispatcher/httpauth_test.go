package dispatcher

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthBearerToken: with a token set, only /healthz and /readyz answer
// without it; every other path — registered, added later or unknown —
// answers 401 with a Bearer challenge unless the request carries the token.
func TestHealthBearerToken(t *testing.T) {
	const token = "0123456789abcdef-token"
	h := NewHealth()
	h.SetNotReady("")
	reached := 0
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached++; w.WriteHeader(http.StatusOK) })
	h.Handle("GET /metrics", ok)
	h.Handle("POST /-/reload", ok)
	h.Handle("GET /console/", ok) // a handler added later goes behind the token too
	h.SetToken(token)

	do := func(method, path, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.srv.Handler.ServeHTTP(w, r)
		return w
	}
	for _, c := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"HEAD", "/healthz", "", 200},
		{"GET", "/metrics", "", 401},
		{"POST", "/-/reload", "", 401},
		{"GET", "/console/", "", 401},
		{"GET", "/nothing-here", "", 401},
		{"GET", "/healthz/../metrics", "", 401},
		{"GET", "//metrics", "", 401},
		{"GET", "/metrics", "Bearer wrong-token-0123456789", 401},
		{"GET", "/metrics", "Bearer " + token + "x", 401},
		{"GET", "/metrics", "Bearer " + token[:len(token)-1], 401},
		{"GET", "/metrics", "Basic " + token, 401},
		{"GET", "/metrics", token, 401},
		{"GET", "/metrics", "Bearer", 401},
		{"GET", "/metrics", "Bearer " + token, 200},
		{"GET", "/metrics", "bearer " + token, 200},
		{"POST", "/-/reload", "Bearer " + token, 200},
		{"GET", "/console/", "Bearer " + token, 200},
		{"GET", "/nothing-here", "Bearer " + token, 404},
	} {
		w := do(c.method, c.path, c.auth)
		if w.Code != c.want {
			t.Errorf("%s %s (Authorization %q): %d, want %d", c.method, c.path, c.auth, w.Code, c.want)
		}
		if w.Code == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s: 401 without a Bearer challenge (WWW-Authenticate %q)", c.method, c.path, w.Header().Get("WWW-Authenticate"))
		}
		if strings.Contains(w.Body.String(), token) {
			t.Errorf("%s %s: the answer holds the token", c.method, c.path)
		}
	}
	if reached != 4 {
		t.Errorf("handlers reached %d times, want 4 (only with the token)", reached)
	}

	// A reload swaps the token: the old one stops working at once.
	h.SetToken("fedcba9876543210-token")
	if w := do("GET", "/metrics", "Bearer "+token); w.Code != 401 {
		t.Errorf("old token after SetToken: %d, want 401", w.Code)
	}
	if w := do("GET", "/metrics", "Bearer fedcba9876543210-token"); w.Code != 200 {
		t.Errorf("new token after SetToken: %d, want 200", w.Code)
	}
	// No token (a loopback listener): everything passes.
	h.SetToken("")
	if w := do("GET", "/metrics", ""); w.Code != 200 {
		t.Errorf("no token set: %d, want 200", w.Code)
	}
}

// TestCheckHTTPToken: what Run and a reload refuse, before any listener is
// bound or any token swapped.
func TestCheckHTTPToken(t *testing.T) {
	for _, c := range []struct {
		listen, token string
		refused       bool
	}{
		{"127.0.0.1:9090", "", false},
		{"localhost:0", "", false},
		{"[::1]:9090", "", false},
		{"0.0.0.0:9090", "", true},
		{":9090", "", true},
		{"[::]:9090", "", true},
		{"10.0.0.5:9090", "", true},
		{"0.0.0.0:9090", "0123456789abcdef", false},
	} {
		err := checkHTTPToken(c.listen, c.token)
		if c.refused != errors.Is(err, ErrHTTPToken) {
			t.Errorf("checkHTTPToken(%q, token set %v) = %v, want refused %v", c.listen, c.token != "", err, c.refused)
		}
	}
}
