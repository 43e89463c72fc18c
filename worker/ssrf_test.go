package worker

import (
	"errors"
	"net/netip"
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
