package dispatcher

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/dispatcher/console"
)

// OpenPaths are the only paths of the HTTP listener served without the
// bearer token (http.token): the probes of orchestrators and load
// balancers, which carry no credentials and reveal nothing. Every other
// path — /metrics, POST /-/reload and whatever is added later — needs the
// token, unknown paths included.
var OpenPaths = []string{"/healthz", "/readyz"}

// ConsolePrefix is the path the console is served under. Its requests pass
// the bearer check to the console, which applies its own rules
// (dispatcher/console): on loopback its pages may be read without the
// token, beyond loopback nothing is served without it (a session opened
// with it, or the bearer header), and its actions always need it.
const ConsolePrefix = console.Prefix

// bearerAuth guards a handler with a bearer token: while a token is set,
// a request outside OpenPaths without "Authorization: Bearer <token>" is
// answered 401 with WWW-Authenticate: Bearer and never reaches the
// handler. Without a token (a loopback listener, config validation sees to
// that) every request passes.
type bearerAuth struct {
	next http.Handler
	// sum is the SHA-256 of the token; nil while none is set. Comparing
	// digests takes the same time whatever the presented token's length.
	sum atomic.Pointer[[sha256.Size]byte]
}

var _ http.Handler = (*bearerAuth)(nil)

// setToken sets the token requests must present; "" lets every request
// through.
func (a *bearerAuth) setToken(token string) {
	if token == "" {
		a.sum.Store(nil)
		return
	}
	sum := sha256.Sum256([]byte(token))
	a.sum.Store(&sum)
}

func (a *bearerAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want := a.sum.Load()
	if want == nil || slices.Contains(OpenPaths, r.URL.Path) || strings.HasPrefix(r.URL.Path, ConsolePrefix) {
		a.next.ServeHTTP(w, r)
		return
	}
	presented, ok := bearerToken(r.Header.Get("Authorization"))
	got := sha256.Sum256([]byte(presented))
	if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && ok {
		a.next.ServeHTTP(w, r)
		return
	}
	challenge := `Bearer realm="dispatcher"`
	if ok {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintln(w, "unauthorized: this path needs Authorization: Bearer <http.token>")
}

// bearerToken returns the credentials of an "Authorization: Bearer <token>"
// header value (the scheme is case-insensitive); ok is false for any other.
func bearerToken(header string) (token string, ok bool) {
	scheme, cred, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// ErrHTTPToken is wrapped by the error of a start or reload that would
// leave a listener beyond loopback without http.token.
var ErrHTTPToken = errors.New("http.token: is required when http.listen is not a loopback address")

// checkHTTPToken refuses an http.listen beyond loopback without a token:
// config validation does already, this keeps a Config built in code (Run)
// and a reload that moves http.listen back to loopback while the listener
// stays where it is (the listen address needs a restart) from serving
// /metrics and /-/reload to anyone.
func checkHTTPToken(listen, token string) error {
	if token == "" && !config.LoopbackListen(listen) {
		return fmt.Errorf("%w (in effect: %q)", ErrHTTPToken, listen)
	}
	return nil
}
