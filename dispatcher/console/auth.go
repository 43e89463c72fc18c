package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Who may do what (doc.go): reading needs a loopback listener, a session
// or the bearer token; acting needs the token, as a session whose CSRF
// token the form carries from the console's own origin, or as a bearer
// header (which a browser never adds by itself).

// cookieName is the session cookie.
const cookieName = "dispatcher_console"

// csrfField is the form field of the session's CSRF token.
const csrfField = "csrf"

// session is a login: the token's digest it was opened with (a new token
// ends it), its CSRF token, who and until when.
type session struct {
	digest  [sha256.Size]byte
	csrf    string
	who     string
	expires time.Time
}

type sessions struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session // by the cookie's value
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, m: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// open starts a session and returns its id.
func (s *sessions) open(digest [sha256.Size]byte, who string) (string, *session) {
	id := randomToken()
	ss := &session{digest: digest, csrf: randomToken(), who: who, expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.m { // the expired go
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[id] = ss
	return id, ss
}

// get returns the session of id when it holds under the token digest want.
func (s *sessions) get(id string, want *[sha256.Size]byte) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	switch {
	case ss == nil:
		return nil
	case want == nil || subtle.ConstantTimeCompare(ss.digest[:], want[:]) != 1 || s.now().After(ss.expires):
		delete(s.m, id)
		return nil
	}
	return ss
}

func (s *sessions) close(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// access is what a request may do.
type access struct {
	read   bool
	act    bool
	bearer bool     // acts by its Authorization header
	sess   *session // its session, nil when none
	who    string
}

// accessOf works out what r may do.
func (c *Console) accessOf(r *http.Request) access {
	a := access{who: "console:" + clientIP(r)}
	want := c.auth.TokenDigest()
	if want != nil {
		if tok, ok := bearer(r.Header.Get("Authorization")); ok {
			got := sha256.Sum256([]byte(tok))
			if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
				a.read, a.act, a.bearer = true, true, true
				return a
			}
		}
		if ck, err := r.Cookie(cookieName); err == nil {
			if ss := c.sessions.get(ck.Value, want); ss != nil {
				a.read, a.act, a.sess, a.who = true, true, ss, ss.who
				return a
			}
		}
	}
	// Without a token the listener is on loopback (config validation and
	// the service see to it).
	a.read = c.loopback || want == nil
	return a
}

func bearer(h string) (string, bool) {
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// clientIP is the address the request came from (no proxy header is
// believed).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sameOrigin refuses a request a browser sent from another site: an
// Origin header that is not this host's, or Sec-Fetch-Site other than
// same-origin. Clients that send neither (curl, scripts) pass: they carry
// no cookie of a victim's browser.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// read wraps a page: served when the request may read, else a login
// (pages) or 401 (the JSON and partial endpoints).
func (c *Console) read(h func(http.ResponseWriter, *http.Request, access)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := c.accessOf(r)
		if !a.read {
			if strings.HasPrefix(r.URL.Path, "/ui/api/") || strings.HasSuffix(r.URL.Path, ".part") {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dispatcher"`)
				http.Error(w, "unauthorized: log in at /ui/login or send Authorization: Bearer <http.token>", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, a)
	})
}

// act wraps an action: only with the token (bearer), or with a session
// whose CSRF token the form carries, sent from the console's own origin.
func (c *Console) act(h func(http.ResponseWriter, *http.Request, access)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		a := c.accessOf(r)
		switch {
		case c.auth.TokenDigest() == nil:
			c.refuse(w, r, a, http.StatusForbidden, "Actions need http.token: set it in the config (a reload applies it), then log in with it.")
			return
		case a.bearer:
		case a.sess == nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="dispatcher"`)
			c.refuse(w, r, a, http.StatusUnauthorized, "Log in with the token to act.")
			return
		case !sameOrigin(r):
			c.refuse(w, r, a, http.StatusForbidden, "Refused: the request did not come from the console's own page.")
			return
		default:
			got := r.PostFormValue(csrfField)
			if subtle.ConstantTimeCompare([]byte(got), []byte(a.sess.csrf)) != 1 {
				c.refuse(w, r, a, http.StatusForbidden, "Refused: the form's CSRF token is missing or stale; reload the page and try again.")
				return
			}
		}
		h(w, r, a)
	})
}

func (c *Console) serveLogin(w http.ResponseWriter, r *http.Request) {
	a := c.accessOf(r)
	c.render(w, r, http.StatusOK, "login", a, loginData{Next: safeNext(r.URL.Query().Get("next")), NoToken: c.auth.TokenDigest() == nil})
}

type loginData struct {
	Next    string
	Error   string
	NoToken bool
}

func (c *Console) serveLoginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	a := c.accessOf(r)
	next := safeNext(r.PostFormValue("next"))
	want := c.auth.TokenDigest()
	if !sameOrigin(r) {
		c.render(w, r, http.StatusForbidden, "login", a, loginData{Next: next, Error: "Refused: the form did not come from this console."})
		return
	}
	if want == nil {
		c.render(w, r, http.StatusForbidden, "login", a, loginData{Next: next, NoToken: true})
		return
	}
	got := sha256.Sum256([]byte(r.PostFormValue("token")))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		c.log.Info("console login refused")
		c.render(w, r, http.StatusUnauthorized, "login", a, loginData{Next: next, Error: "That is not the token."})
		return
	}
	id, _ := c.sessions.open(*want, "console:"+clientIP(r))
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(c.set.SessionTTL.Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) serveLogout(w http.ResponseWriter, r *http.Request) {
	a := c.accessOf(r)
	if a.sess != nil && sameOrigin(r) && subtle.ConstantTimeCompare([]byte(r.PostFormValue(csrfField)), []byte(a.sess.csrf)) == 1 {
		if ck, err := r.Cookie(cookieName); err == nil {
			c.sessions.close(ck.Value)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// safeNext keeps a redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}
