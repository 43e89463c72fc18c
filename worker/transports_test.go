package worker

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestTransportsSharedByProfile(t *testing.T) {
	base := Target{Name: "a", Endpoints: []string{"http://127.0.0.1:1"}, Concurrency: 4}.withDefaults()
	other := base
	other.Name = "b"
	slow := base
	slow.Name = "c"
	slow.Timeouts.ResponseHeader = base.Timeouts.ResponseHeader + time.Second

	users := func(tg Target, p NetPolicy) int {
		transports.Lock()
		defer transports.Unlock()
		if s := transports.m[transportKeyOf(tg, p)]; s != nil {
			return s.users
		}
		return 0
	}
	before := users(base, NetPolicy{}) // workers of other tests left running
	ca, ra := acquireClient(base, NetPolicy{})
	cb, rb := acquireClient(other, NetPolicy{})
	cc, rc := acquireClient(slow, NetPolicy{})
	cp, rp := acquireClient(base, NetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if ca.Transport != cb.Transport {
		t.Error("two targets with the same timeouts and policy have different transports")
	}
	if ca.Transport == cc.Transport {
		t.Error("a target with another response-header timeout shares a transport")
	}
	if ca.Transport == cp.Transport {
		t.Error("a target with another SSRF policy shares a transport")
	}
	if tr := ca.Transport.(*http.Transport); tr.MaxConnsPerHost != 0 {
		t.Errorf("MaxConnsPerHost %d: a slow target's calls would hold back the others'", tr.MaxConnsPerHost)
	}
	ra()
	ra() // a second release of the same client counts once
	if n := users(base, NetPolicy{}) - before; n != 1 {
		t.Errorf("users after one of two released: %d, want 1", n)
	}
	rb()
	rc()
	rp()
	if n := users(base, NetPolicy{}); n != before {
		t.Errorf("%d users after every release, want %d", n, before)
	}
	if n := users(slow, NetPolicy{}); n != 0 {
		t.Errorf("a transport with %d users left after every release", n)
	}
}
