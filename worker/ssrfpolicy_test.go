package worker

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

// TestNetPolicy decides addresses under each kind of policy: what
// AllowPrivate opens (everything but cloud metadata), what Allow networks
// open (exactly their addresses, metadata included), and how the two
// combine. No address here is dialed.
func TestNetPolicy(t *testing.T) {
	nets := func(cidrs ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, c := range cidrs {
			out = append(out, netip.MustParsePrefix(c))
		}
		return out
	}
	private := NetPolicy{AllowPrivate: true}
	tenOne := NetPolicy{Allow: nets("10.1.0.0/16", "fd12:3456::/32")}
	meta := NetPolicy{AllowPrivate: true, Allow: nets("169.254.169.254/32")}
	cases := []struct {
		name   string
		policy NetPolicy
		addr   string
		// refused is "" when the address is admitted, else a part of the
		// refusal's reason.
		refused string
	}{
		{"public under the zero policy", NetPolicy{}, "93.184.216.34", ""},
		{"private under the zero policy", NetPolicy{}, "10.1.2.3", "private"},

		{"allow private: loopback", private, "127.0.0.1", ""},
		{"allow private: private", private, "10.1.2.3", ""},
		{"allow private: link-local", private, "169.254.1.1", ""},
		{"allow private: public", private, "93.184.216.34", ""},
		{"allow private: aws metadata", private, "169.254.169.254", "cloud metadata"},
		{"allow private: aws metadata v6", private, "fd00:ec2::254", "cloud metadata"},
		{"allow private: alibaba metadata", private, "100.100.100.200", "cloud metadata"},
		{"allow private: ecs metadata", private, "169.254.170.2", "cloud metadata"},
		{"allow private: v4-mapped metadata", private, "::ffff:169.254.169.254", "cloud metadata"},
		{"allow private: nat64 metadata", private, "64:ff9b::a9fe:a9fe", "cloud metadata"},
		{"allow private: 6to4 metadata", private, "2002:a9fe:a9fe::", "cloud metadata"},
		{"allow private: nat64 private", private, "64:ff9b::a00:1", ""},

		{"allow networks: inside v4", tenOne, "10.1.2.3", ""},
		{"allow networks: first address", tenOne, "10.1.0.0", ""},
		{"allow networks: last address", tenOne, "10.1.255.255", ""},
		{"allow networks: just outside", tenOne, "10.2.0.0", "private"},
		{"allow networks: just below", tenOne, "10.0.255.255", "private"},
		{"allow networks: loopback stays refused", tenOne, "127.0.0.1", "loopback"},
		{"allow networks: metadata stays refused", tenOne, "169.254.169.254", "cloud metadata"},
		{"allow networks: inside v6", tenOne, "fd12:3456:1::1", ""},
		{"allow networks: outside v6", tenOne, "fd12:3457::1", "private"},
		{"allow networks: v4-mapped inside", tenOne, "::ffff:10.1.2.3", ""},
		{"allow networks: nat64 inside", tenOne, "64:ff9b::a01:203", ""},
		{"allow networks: nat64 outside", tenOne, "64:ff9b::a02:203", "private"},
		{"allow networks: public", tenOne, "93.184.216.34", ""},
		{"allow networks: zoned link-local outside", tenOne, "fe80::1%eth0", "link-local"},

		{"metadata listed", meta, "169.254.169.254", ""},
		{"metadata listed: another stays refused", meta, "100.100.100.200", "cloud metadata"},
		{"metadata listed: v4-mapped", meta, "::ffff:169.254.169.254", ""},
		{"metadata by a covering network", NetPolicy{Allow: nets("169.254.0.0/16")}, "169.254.169.254", ""},
		{"metadata v6 by a covering network", NetPolicy{Allow: nets("fd00:ec2::/32")}, "fd00:ec2::254", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.policy.CheckAddr(netip.MustParseAddr(c.addr))
			if c.refused == "" {
				if err != nil {
					t.Fatalf("CheckAddr(%s) = %v, want admitted", c.addr, err)
				}
				return
			}
			var se *SSRFError
			if !errors.As(err, &se) || !strings.Contains(se.Reason, c.refused) {
				t.Fatalf("CheckAddr(%s) = %v, want a refusal for %q", c.addr, err, c.refused)
			}
		})
	}
}

// TestNetPolicyHostAndDial: the pre-DNS host check and the dialer hook
// apply the same policy as CheckAddr: localhost names pass only where a
// loopback address is admitted, and the hook judges the resolved address.
func TestNetPolicyHostAndDial(t *testing.T) {
	loop := NetPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if err := loop.CheckHost("localhost"); err != nil {
		t.Errorf("localhost with 127.0.0.0/8 allowed: %v", err)
	}
	if err := (NetPolicy{}).CheckHost("localhost"); err == nil {
		t.Error("localhost passed the zero policy")
	}
	if err := (NetPolicy{AllowPrivate: true}).CheckHost("localhost"); err != nil {
		t.Errorf("localhost under AllowPrivate: %v", err)
	}
	if err := (NetPolicy{AllowPrivate: true}).CheckHost("0251.0376.0251.0376"); err == nil {
		t.Error("an octal spelling of 169.254.169.254 passed under AllowPrivate")
	}
	if err := (NetPolicy{AllowPrivate: true}).control("tcp4", "169.254.169.254:80", nil); err == nil {
		t.Error("the dialer hook admitted 169.254.169.254 under AllowPrivate")
	}
	if err := (NetPolicy{AllowPrivate: true}).control("tcp6", "[fd00:ec2::254]:80", nil); err == nil {
		t.Error("the dialer hook admitted fd00:ec2::254 under AllowPrivate")
	}
	if err := loop.control("tcp4", "127.0.0.1:80", nil); err != nil {
		t.Errorf("the dialer hook refused 127.0.0.1 with 127.0.0.0/8 allowed: %v", err)
	}
	if err := loop.control("tcp4", "10.0.0.1:80", nil); err == nil {
		t.Error("the dialer hook admitted 10.0.0.1 with only 127.0.0.0/8 allowed")
	}
}

// TestSSRFAllowNetworksAtDial runs the real dial path (the stub resolver,
// then the Control hook): a target whose allow_networks holds 127.0.0.0/8
// reaches a name resolving to 127.0.0.1, one whose allow_networks holds
// another network is refused at the dial. Only 127.0.0.1 is ever dialed.
func TestSSRFAllowNetworksAtDial(t *testing.T) {
	port, calls := countingServer(t)
	stub := newDNSStub(t, map[string][][]netip.Addr{"inside.test.": {{netip.MustParseAddr("127.0.0.1")}}})
	stub.useResolver(t)
	endpoint := "http://inside.test:" + port
	call := func(name string, allow ...string) *callResult {
		tg := Target{Name: name, Endpoints: []string{endpoint},
			Timeouts: Timeouts{Connect: 2 * time.Second, TLS: time.Second, ResponseHeader: 2 * time.Second, Total: 5 * time.Second}}
		for _, a := range allow {
			tg.AllowNetworks = append(tg.AllowNetworks, netip.MustParsePrefix(a))
		}
		w, err := New(tg, Security{}, noJetStream{}, noRecorder{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.releaseClient)
		return w.do(context.Background(), endpoint, &schemas.Job{ID: "allow-" + name, Target: name}, 1, "", 5*time.Second)
	}

	wantSSRFBlocked(t, call("other", "10.0.0.0/8"))
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls reached 127.0.0.1 through a target allowing 10.0.0.0/8 only", n)
	}
	if res := call("loop", "127.0.0.0/8"); !res.ok() || calls.Load() != 1 {
		t.Fatalf("target allowing 127.0.0.0/8: status %d class %q err %v, %d calls; want one 204", res.status, res.class, res.err, calls.Load())
	}
}
