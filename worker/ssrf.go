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
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	benchmarkNw = netip.MustParsePrefix("198.18.0.0/15")
	// Cloud metadata services that are not already link-local or private.
	metadataAddrs = map[netip.Addr]bool{
		netip.MustParseAddr("169.254.169.254"): true,
		netip.MustParseAddr("fd00:ec2::254"):   true,
		netip.MustParseAddr("100.100.100.200"): true,
		netip.MustParseAddr("169.254.170.2"):   true,
	}
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// CheckAddr decides whether a call may connect to ip. It returns nil for a
// public unicast address and an *SSRFError otherwise. It never dials.
func CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		// NAT64 embeds an IPv4 address in the last 32 bits; judge that one.
		b := ip.As16()
		return CheckAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	reason := ""
	switch {
	case !ip.IsValid():
		reason = "invalid"
	case metadataAddrs[ip]:
		reason = "cloud metadata"
	case ip.IsUnspecified():
		reason = "unspecified"
	case ip.IsLoopback():
		reason = "loopback"
	case ip.IsPrivate():
		reason = "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		reason = "link-local"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		reason = "multicast"
	case cgnat.Contains(ip):
		reason = "carrier-grade NAT"
	case benchmarkNw.Contains(ip):
		reason = "benchmarking network"
	case ip.Is4() && ip.As4()[0] == 0:
		reason = "this network"
	case ip.Is4() && ip.As4()[0] >= 240:
		reason = "reserved"
	}
	if reason == "" {
		return nil
	}
	return &SSRFError{Addr: ip, Reason: reason}
}

// ssrfControl is a net.Dialer Control hook: it runs after DNS resolution,
// on the exact address about to be dialed.
func ssrfControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("ssrf guard: %w", err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &SSRFError{Reason: "unparseable address " + host}
	}
	return CheckAddr(ip)
}
