package testenv

import (
	"net/http"
	"strconv"
	"time"
)

// Env is what a Behaviour knows about the call besides the request.
type Env struct {
	// N is the number of this call among the calls with the same
	// Idempotency-Key (1 for the first).
	N int
	// Done is closed when the sink shuts down; behaviours that hold a call
	// let go then.
	Done <-chan struct{}
}

// Behaviour answers one call. It reports whether the client went away
// before it was done.
type Behaviour func(w http.ResponseWriter, r *http.Request, e *Env) (clientGone bool)

// OK answers 200 with a small JSON body.
func OK() Behaviour { return Status(http.StatusOK) }

// Status answers code with a small JSON body.
func Status(code int) Behaviour {
	return func(w http.ResponseWriter, _ *http.Request, _ *Env) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"status":` + strconv.Itoa(code) + `}`))
		return false
	}
}

// FailFirst answers code to the first n calls of each Idempotency-Key and
// 200 afterwards.
func FailFirst(n, code int) Behaviour {
	fail, ok := Status(code), OK()
	return func(w http.ResponseWriter, r *http.Request, e *Env) bool {
		if e.N <= n {
			return fail(w, r, e)
		}
		return ok(w, r, e)
	}
}

// RetryAfter answers code with "Retry-After: secs" to the first n calls of
// each Idempotency-Key and 200 afterwards.
func RetryAfter(code, secs, n int) Behaviour {
	ok := OK()
	return func(w http.ResponseWriter, r *http.Request, e *Env) bool {
		if e.N <= n {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			w.WriteHeader(code)
			return false
		}
		return ok(w, r, e)
	}
}

// Redirect answers code with a Location header.
func Redirect(code int, location string) Behaviour {
	return func(w http.ResponseWriter, _ *http.Request, _ *Env) bool {
		w.Header().Set("Location", location)
		w.WriteHeader(code)
		return false
	}
}

// Sleep holds the call for d, then answers with next. When the client goes
// away first it stops and reports so.
func Sleep(d time.Duration, next Behaviour) Behaviour {
	return func(w http.ResponseWriter, r *http.Request, e *Env) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return next(w, r, e)
		case <-r.Context().Done():
			return true
		case <-e.Done:
			return true
		}
	}
}

// BlackHole holds the call, answering nothing, until the client gives up.
func BlackHole() Behaviour {
	return func(_ http.ResponseWriter, r *http.Request, e *Env) bool {
		select {
		case <-r.Context().Done():
		case <-e.Done:
		}
		return true
	}
}

// StallBody sends 200 and its headers at once, then holds the body until the
// client gives up.
func StallBody() Behaviour {
	return func(w http.ResponseWriter, r *http.Request, e *Env) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"partial":`))
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case <-r.Context().Done():
		case <-e.Done:
		}
		return true
	}
}

// ByPath answers with the behaviour of the request's path (query not
// included), OK for a path not in m.
func ByPath(m map[string]Behaviour) Behaviour {
	def := OK()
	return func(w http.ResponseWriter, r *http.Request, e *Env) bool {
		if b, ok := m[r.URL.Path]; ok {
			return b(w, r, e)
		}
		return def(w, r, e)
	}
}

// CutBody answers 200 with a Content-Length of 1000 and closes the
// connection after 10 bytes of it: the response's body cannot be read to
// its end.
func CutBody() Behaviour {
	return func(w http.ResponseWriter, r *http.Request, e *Env) bool {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789")
		_ = buf.Flush()
		_ = conn.Close()
		return true
	}
}
