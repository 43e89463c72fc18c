package worker

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// The guard is tested at its decision function: no address here is dialed.
func TestCheckAddr(t *testing.T) {
	cases := []struct {
		name, addr string
		allowed    bool
	}{
		{"public v4", "93.184.216.34", true},
		{"public v6", "2606:4700:4700::1111", true},
		{"loopback v4", "127.0.0.1", false},
		{"loopback other", "127.8.9.10", false},
		{"loopback v6", "::1", false},
		{"private 10/8", "10.1.2.3", false},
		{"private 172.16/12", "172.20.0.1", false},
		{"private 192.168/16", "192.168.1.1", false},
		{"link-local", "169.254.10.10", false},
		{"aws metadata", "169.254.169.254", false},
		{"alibaba metadata", "100.100.100.200", false},
		{"cgnat", "100.64.0.1", false},
		{"unique local v6", "fd12:3456::1", false},
		{"aws metadata v6", "fd00:ec2::254", false},
		{"link-local v6", "fe80::1", false},
		{"multicast v4", "224.0.0.1", false},
		{"multicast v6", "ff02::1", false},
		{"unspecified v4", "0.0.0.0", false},
		{"unspecified v6", "::", false},
		{"this network", "0.1.2.3", false},
		{"reserved", "240.0.0.1", false},
		{"broadcast", "255.255.255.255", false},
		{"v4-mapped loopback", "::ffff:127.0.0.1", false},
		{"v4-mapped public", "::ffff:93.184.216.34", true},
		{"nat64 private", "64:ff9b::a00:1", false},
		{"benchmarking", "198.18.0.1", false},
		// Ranges the guard once missed (issue 13).
		{"local-use nat64", "64:ff9b:1::a00:1", false},
		{"local-use nat64 of a public v4", "64:ff9b:1:5db8:d822::", false},
		{"ietf protocol assignments", "192.0.0.1", false},
		{"ietf protocol assignments dslite", "192.0.0.170", false},
		{"6to4 of loopback", "2002:7f00:1::1", false},
		{"6to4 of private", "2002:a00:1::", false},
		{"6to4 of metadata", "2002:a9fe:a9fe::1", false},
		{"6to4 of a public v4", "2002:5db8:d822::1", true},
		{"v4-compatible loopback", "::127.0.0.1", false},
		{"v4-compatible private", "::10.0.0.1", false},
		{"v4-compatible public", "::93.184.216.34", false},
		{"v4-translated loopback", "::ffff:0:7f00:1", false},
		{"site-local", "fec0::1", false},
		{"site-local top", "feff:ffff::1", false},
		{"nat64 of metadata", "64:ff9b::a9fe:a9fe", false},
		{"nat64 public", "64:ff9b::5db8:d822", true},
		{"v4-mapped metadata", "::ffff:169.254.169.254", false},
		{"ecs metadata", "169.254.170.2", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckAddr(netip.MustParseAddr(c.addr))
			if c.allowed && err != nil {
				t.Fatalf("CheckAddr(%s) = %v, want allowed", c.addr, err)
			}
			if !c.allowed {
				var se *SSRFError
				if !errors.As(err, &se) {
					t.Fatalf("CheckAddr(%s) = %v, want an *SSRFError", c.addr, err)
				}
			}
		})
	}
}

func TestSSRFControlRefusesBeforeConnecting(t *testing.T) {
	// The dialer hook sees the resolved address; it must refuse without I/O.
	err := ssrfControl("tcp4", "10.0.0.1:443", nil)
	var se *SSRFError
	if !errors.As(err, &se) || se.Reason != "private" {
		t.Fatalf("ssrfControl = %v, want a private-address refusal", err)
	}
	if err := ssrfControl("tcp4", "93.184.216.34:443", nil); err != nil {
		t.Fatalf("ssrfControl(public) = %v", err)
	}
	if err := ssrfControl("tcp4", "not-an-address", nil); err == nil {
		t.Fatal("ssrfControl accepted an unparseable address")
	}
}

// TestSSRFMetadataUnderAllowPrivate: allow_private_networks and a target's
// allow_private open private networks, never the cloud metadata services:
// an endpoint naming one (in any spelling) is refused before DNS. Nothing
// is dialed: the refusal is read off the built worker.
func TestSSRFMetadataUnderAllowPrivate(t *testing.T) {
	endpoints := []string{
		"http://169.254.169.254", "http://[fd00:ec2::254]", "http://100.100.100.200", "http://169.254.170.2",
		"http://[::ffff:169.254.169.254]", "http://2852039166", "http://[64:ff9b::a9fe:a9fe]", "http://[2002:a9fe:a9fe::]",
	}
	for _, how := range []struct {
		name string
		tg   Target
		sec  Security
	}{
		{"allow_private_networks", Target{}, Security{AllowPrivateNetworks: true}},
		{"allow_private", Target{AllowPrivate: true}, Security{}},
	} {
		for _, ep := range endpoints {
			t.Run(how.name+" "+ep, func(t *testing.T) {
				tg := how.tg
				tg.Name, tg.Endpoints = "meta", []string{ep}
				w, err := New(tg, how.sec, noJetStream{}, noRecorder{})
				if err != nil {
					t.Fatal(err)
				}
				var se *SSRFError
				if err := w.hostBlocked[ep]; !errors.As(err, &se) || !strings.Contains(se.Reason, "cloud metadata") {
					t.Fatalf("endpoint %s under %s: refusal %v, want a cloud metadata refusal before DNS", ep, how.name, err)
				}
			})
		}
	}
}

// ssrfControl is the dialer hook of the zero NetPolicy (the guard's
// defaults), as the tests dial with it.
func ssrfControl(network, address string, c syscall.RawConn) error {
	return NetPolicy{}.control(network, address, c)
}
