package worker

import (
	"net/netip"
	"slices"
)

// NetPolicy is what the SSRF guard admits of a target's calls beside public
// unicast addresses. The zero NetPolicy admits public unicast addresses
// only.
type NetPolicy struct {
	// AllowPrivate admits every address except the cloud metadata
	// services' (security.allow_private_networks, a target's
	// allow_private).
	AllowPrivate bool
	// Allow admits every address of these networks, cloud metadata
	// included (a target's allow_networks).
	Allow []netip.Prefix
}

// NetPolicyOf is the policy of t's calls under sec.
func NetPolicyOf(t Target, sec Security) NetPolicy {
	return NetPolicy{AllowPrivate: sec.AllowPrivateNetworks || t.AllowPrivate, Allow: t.AllowNetworks}
}

// CheckAddr decides whether a call may connect to ip: nil when the policy
// admits it, an *SSRFError otherwise. In order: an address of an Allow
// network is admitted; an IPv6 address carrying an IPv4 one (NAT64, 6to4;
// IPv4-mapped ones are read as IPv4) is judged by that IPv4 address; a
// cloud metadata address is refused; with AllowPrivate anything else is
// admitted, without it only public unicast addresses. It never dials.
func (p NetPolicy) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return &SSRFError{Addr: ip, Reason: "invalid"}
	}
	if p.allowed(ip) {
		return nil
	}
	if v4, form, ok := embeddedIPv4(ip); ok {
		if err := p.CheckAddr(v4); err != nil {
			reason := err.Error()
			if se, ok := err.(*SSRFError); ok {
				reason = se.Reason
			}
			return &SSRFError{Addr: ip, Reason: reason + ", " + form + " of " + v4.String()}
		}
		return nil
	}
	if metadataAddrs[ip] {
		return &SSRFError{Addr: ip, Reason: "cloud metadata"}
	}
	if p.AllowPrivate {
		return nil
	}
	if why := reserved(ip); why != "" {
		return &SSRFError{Addr: ip, Reason: why}
	}
	return nil
}

// allowed reports whether an Allow network holds ip.
func (p NetPolicy) allowed(ip netip.Addr) bool {
	return slices.ContainsFunc(p.Allow, func(n netip.Prefix) bool { return n.Contains(ip) })
}
