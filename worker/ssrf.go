package worker

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// SSRFError is returned (wrapped) when the guard refuses an address. It is
// never retried and never counts against a breaker.
type SSRFError struct {
	Addr   netip.Addr
	Reason string
}

func (e *SSRFError) Error() string {
	return fmt.Sprintf("ssrf guard: address %s refused (%s)", e.Addr, e.Reason)
}

var (
	cgnat        = netip.MustParsePrefix("100.64.0.0/10")
	benchmarkNw  = netip.MustParsePrefix("198.18.0.0/15")
	ietfProtocol = netip.MustParsePrefix("192.0.0.0/24") // RFC 6890: DS-Lite B4, NAT64 discovery, ...
	// Cloud metadata services. Most are link-local or private too, but
	// these are refused even where private networks are allowed, unless an
	// allow_networks entry covers them (NetPolicy).
	metadataAddrs = map[netip.Addr]bool{
		netip.MustParseAddr("169.254.169.254"): true,
		netip.MustParseAddr("fd00:ec2::254"):   true,
		netip.MustParseAddr("100.100.100.200"): true,
		netip.MustParseAddr("169.254.170.2"):   true,
	}
	// IPv6 forms that carry an IPv4 address the packets end up at.
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the last 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056: bits 16 to 48
	// IPv6 ranges that are not public unicast and that netip has no
	// predicate for.
	nat64Local   = netip.MustParsePrefix("64:ff9b:1::/48")  // RFC 8215: local-use translation, any layout
	v4Compatible = netip.MustParsePrefix("::/96")           // RFC 4291, deprecated; :: and ::1 are in it
	v4Translated = netip.MustParsePrefix("::ffff:0:0:0/96") // RFC 2765 (SIIT), deprecated
	siteLocal    = netip.MustParsePrefix("fec0::/10")       // RFC 3879, deprecated
)

// CheckAddr decides whether a call may connect to ip when no network is
// allowed beyond the public ones (the zero NetPolicy): nil for a public
// unicast address, an *SSRFError otherwise. It never dials.
func CheckAddr(ip netip.Addr) error { return NetPolicy{}.CheckAddr(ip) }

// embeddedIPv4 returns the IPv4 address an IPv6 address of a translation or
// tunnelling form delivers to — NAT64 (64:ff9b::/96) and 6to4 (2002::/16) —
// and the form's name; ok is false for any other address.
func embeddedIPv4(ip netip.Addr) (v4 netip.Addr, form string, ok bool) {
	b := ip.As16()
	switch {
	case !ip.Is6():
		return netip.Addr{}, "", false
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "NAT64", true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), "6to4", true
	}
	return netip.Addr{}, "", false
}

// reserved returns why ip (unmapped, without a zone) is not a public
// unicast address, or "" when it is one.
func reserved(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.Is6() && v4Compatible.Contains(ip):
		return "IPv4-compatible"
	case ip.Is6() && v4Translated.Contains(ip):
		return "IPv4-translated"
	case ip.IsPrivate():
		return "private"
	case siteLocal.Contains(ip):
		return "site-local"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case cgnat.Contains(ip):
		return "carrier-grade NAT"
	case benchmarkNw.Contains(ip):
		return "benchmarking network"
	case ietfProtocol.Contains(ip):
		return "IETF protocol assignments"
	case nat64Local.Contains(ip):
		return "local-use NAT64"
	case ip.Is4() && ip.As4()[0] == 0:
		return "this network"
	case ip.Is4() && ip.As4()[0] >= 240:
		return "reserved"
	}
	return ""
}

// control is a net.Dialer Control hook: it runs after DNS resolution, on
// the exact address about to be dialed.
func (p NetPolicy) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("ssrf guard: %w", err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &SSRFError{Reason: "unparseable address " + host}
	}
	return p.CheckAddr(ip)
}
