package dispatcher

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Health is the service's HTTP listener. It serves /healthz (the process
// runs) and /readyz (connected to NATS with every target's consumer bound)
// to anyone, and every other handler (Handle) behind the bearer token of
// SetToken (httpauth.go).
type Health struct {
	mu     sync.Mutex
	reason string // "" when ready
	check  func() string
	mux    *http.ServeMux
	auth   *bearerAuth
	srv    *http.Server
	ln     net.Listener
}

// NewHealth returns a Health that is not ready yet.
func NewHealth() *Health {
	h := &Health{reason: "starting"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if why := h.notReady(); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", why)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	h.mux, h.auth = mux, &bearerAuth{next: mux}
	h.srv = &http.Server{Handler: h.auth, ReadHeaderTimeout: 5 * time.Second}
	return h
}

// Handle adds a handler to the listener (e.g. /metrics). Unless its path
// is one of OpenPaths it is served only to requests with the token.
func (h *Health) Handle(pattern string, handler http.Handler) {
	h.mux.Handle(pattern, handler)
}

// SetToken sets the bearer token (http.token) that every request outside
// OpenPaths must present; "" requires none. It may be called while serving
// (a reload).
func (h *Health) SetToken(token string) { h.auth.setToken(token) }

// TokenDigest is the SHA-256 digest of the token in force, nil while none
// is set (the console checks its logins and actions against it).
func (h *Health) TokenDigest() *[sha256.Size]byte { return h.auth.sum.Load() }

// Loopback reports whether the listener is bound to a loopback address.
func (h *Health) Loopback() bool {
	a, ok := h.ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// SetNotReady records why the service is not ready ("" means ready).
func (h *Health) SetNotReady(reason string) {
	h.mu.Lock()
	h.reason = reason
	h.mu.Unlock()
}

// SetCheck adds a live check run on every /readyz once the service is ready;
// it returns a reason, or "" when all is well.
func (h *Health) SetCheck(f func() string) {
	h.mu.Lock()
	h.check = f
	h.mu.Unlock()
}

func (h *Health) notReady() string {
	h.mu.Lock()
	reason, check := h.reason, h.check
	h.mu.Unlock()
	if reason != "" {
		return reason
	}
	if check != nil {
		return check()
	}
	return ""
}

// Listen binds addr; serving starts with Serve.
func (h *Health) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", addr, err)
	}
	h.ln = ln
	return nil
}

// Addr is the bound address.
func (h *Health) Addr() string { return h.ln.Addr().String() }

// Serve serves until Shutdown.
func (h *Health) Serve() error {
	if err := h.srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the listener.
func (h *Health) Shutdown(ctx context.Context) error { return h.srv.Shutdown(ctx) }
