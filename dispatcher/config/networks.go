package config

import (
	"net/netip"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// networkList decodes allow_networks: a list of CIDRs (or single
// addresses), each a network address without a zone. An item that is not
// one is left out, its problem reported at its index.
func (d *decoder) networkList(path string, n *yaml.Node, out *[]netip.Prefix) {
	var strs []string
	d.stringList(path, n, &strs)
	if strs == nil {
		return
	}
	nets := []netip.Prefix{}
	for i, s := range strs {
		p, msg := parseNetwork(s)
		if msg != "" {
			d.fail(indexPath(path, i), "%s", msg)
			continue
		}
		nets = append(nets, p)
	}
	*out = nets
}

// parseNetwork reads one allow_networks entry: a CIDR such as 10.1.0.0/16
// or fd00:1234::/32, or a single address (a /32 or /128). It returns what
// is wrong with it otherwise.
func parseNetwork(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, "must be a CIDR (10.1.0.0/16, fd00:1234::/32) or an IP address, got " + strconv.Quote(s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	switch {
	case p.Addr().Is4In6():
		return netip.Prefix{}, "must write an IPv4 network as IPv4 (a.b.c.d/n), got " + strconv.Quote(s)
	case p != p.Masked():
		return netip.Prefix{}, "must have no bits set past its prefix length (did you mean " + p.Masked().String() + "?), got " + strconv.Quote(s)
	}
	return p, ""
}
