package worker

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Targets whose calls dial and time out alike share one http.Transport, and
// so one keep-alive pool per host: thousands of webhook targets on a few
// hosts keep as many connections as calls are made at once, not one or more
// per target (each connection holds two goroutines and two buffers). A
// transport is keyed by everything it decides: the dial and header
// timeouts, the SSRF policy its dialer enforces and the resolver.
// Connections per host are not capped, so a slow target's calls never make
// another target's calls wait for a connection.

// transportKey is what makes two targets' transports interchangeable.
type transportKey struct {
	connect, tls, header time.Duration
	allowPrivate         bool
	allow                string // the policy's Allow networks, in order
	resolver             *net.Resolver
}

func transportKeyOf(t Target, policy NetPolicy) transportKey {
	k := transportKey{
		connect: t.Timeouts.Connect, tls: t.Timeouts.TLS, header: t.Timeouts.ResponseHeader,
		allowPrivate: policy.AllowPrivate, resolver: dialResolver,
	}
	for i, p := range policy.Allow {
		if i > 0 {
			k.allow += ","
		}
		k.allow += p.String()
	}
	return k
}

// maxIdlePerHost bounds the idle connections a shared transport keeps to
// one host. A pool never holds more idle connections than were in use at
// once, so this only caps what a burst leaves behind (for IdleConnTimeout).
const maxIdlePerHost = 1024

// sharedTransport is a transport and how many workers use it.
type sharedTransport struct {
	tr    *http.Transport
	users int
}

var transports = struct {
	sync.Mutex
	m map[transportKey]*sharedTransport
}{m: map[transportKey]*sharedTransport{}}

// acquireClient returns an HTTP client on the transport shared by targets
// like t, and the release to call once the worker is done with it: the last
// release closes the transport's idle connections. The client follows no
// redirect and uses no proxy (a proxy would dial on our behalf and bypass
// the guard).
func acquireClient(t Target, policy NetPolicy) (*http.Client, func()) {
	k := transportKeyOf(t, policy)
	transports.Lock()
	s := transports.m[k]
	if s == nil {
		s = &sharedTransport{tr: newTransport(t, policy)}
		transports.m[k] = s
	}
	s.users++
	transports.Unlock()
	var once sync.Once
	release := func() {
		once.Do(func() {
			transports.Lock()
			defer transports.Unlock()
			if s.users--; s.users == 0 {
				delete(transports.m, k)
				s.tr.CloseIdleConnections()
			}
		})
	}
	return &http.Client{
		Transport: s.tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, release
}

// newTransport builds the transport of a key: split timeouts, the SSRF
// guard of policy in the dialer, no proxy.
func newTransport(t Target, policy NetPolicy) *http.Transport {
	dialer := &net.Dialer{Timeout: t.Timeouts.Connect, KeepAlive: 30 * time.Second, Resolver: dialResolver, Control: policy.control}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   t.Timeouts.TLS,
		ResponseHeaderTimeout: t.Timeouts.ResponseHeader,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}
