package worker

import (
	"net/netip"
	"strconv"
	"strings"
)

// CheckHost judges a URL's host before any DNS lookup, as the zero
// NetPolicy does (NetPolicy.CheckHost).
func CheckHost(host string) error { return NetPolicy{}.CheckHost(host) }

// CheckHost judges a URL's host before any DNS lookup: an IP literal in any
// spelling (dotted, bracketed, with a zone, IPv4-mapped, or the legacy
// inet_aton forms 127.1, 2130706433, 0x7f000001, 0177.0.0.1 that some
// resolvers and proxies accept) is decided here by CheckAddr, and so are
// the localhost names (refused unless the policy admits a loopback
// address). Other names pass; their resolved addresses are checked again,
// right before the dial, by the dialer's Control hook (so DNS rebinding
// gains nothing).
func (p NetPolicy) CheckHost(host string) error {
	h := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(host, "]"), "["), ".")
	h = strings.ToLower(h)
	if h == "" {
		return &SSRFError{Reason: "empty host"}
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || h == "localhost.localdomain" ||
		h == "ip6-localhost" || h == "ip6-loopback" {
		if p.CheckAddr(netip.IPv6Loopback()) == nil || p.CheckAddr(netip.MustParseAddr("127.0.0.1")) == nil {
			return nil // what the name resolves to is judged at the dial
		}
		return &SSRFError{Addr: netip.MustParseAddr("127.0.0.1"), Reason: "loopback name " + strconv.Quote(host)}
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return p.CheckAddr(ip.WithZone(""))
	}
	if ip, ok := parseLegacyIPv4(h); ok {
		return p.CheckAddr(ip)
	}
	return nil
}

// parseLegacyIPv4 reads the inet_aton spellings of an IPv4 address: one to
// four parts, each decimal, octal (leading 0) or hex (0x), the last part
// filling the remaining bytes.
func parseLegacyIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" {
			return netip.Addr{}, false
		}
		base, digits := 10, p
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, digits = 16, p[2:]
			if digits == "" {
				digits = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		n |= vals[i] << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
