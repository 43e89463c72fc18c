package config

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestAllowNetworks(t *testing.T) {
	nets := func(cidrs ...string) []netip.Prefix {
		out := []netip.Prefix{}
		for _, c := range cidrs {
			out = append(out, netip.MustParsePrefix(c))
		}
		return out
	}
	file := `defaults:
  allow_networks: [10.1.0.0/16, "fd00:1234::/32", 192.0.2.7]
targets:
  inherits: {endpoints: ["https://a.example.com"]}
  own: {endpoints: ["https://b.example.com"], allow_networks: [169.254.169.254/32]}
  none: {endpoints: ["https://c.example.com"], allow_networks: []}
`
	cfg := mustParse(t, file, nil)
	for name, want := range map[string][]netip.Prefix{
		"inherits": nets("10.1.0.0/16", "fd00:1234::/32", "192.0.2.7/32"),
		"own":      nets("169.254.169.254/32"),
		"none":     nets(),
	} {
		if got := cfg.Targets[name].AllowNetworks; !reflect.DeepEqual(got, want) {
			t.Errorf("targets.%s.allow_networks = %v, want %v", name, got, want)
		}
	}
	if got := mustParse(t, validTarget, nil).Targets["a"].AllowNetworks; got != nil {
		t.Errorf("allow_networks by default = %v, want none", got)
	}
}

func TestAllowNetworksInvalid(t *testing.T) {
	for _, tt := range []struct {
		name, file, want string
	}{
		{"not a cidr", withTarget("allow_networks: [10.0.0.0/8, nope]"),
			`targets.a.allow_networks[1]: must be a CIDR (10.1.0.0/16, fd00:1234::/32) or an IP address, got "nope"`},
		{"prefix too long", withTarget("allow_networks: [10.0.0.0/33]"),
			`targets.a.allow_networks[0]: must be a CIDR (10.1.0.0/16, fd00:1234::/32) or an IP address, got "10.0.0.0/33"`},
		{"host bits", withTarget("allow_networks: [10.1.2.3/16]"),
			`targets.a.allow_networks[0]: must have no bits set past its prefix length (did you mean 10.1.0.0/16?), got "10.1.2.3/16"`},
		{"zone", withTarget(`allow_networks: ["fe80::1%eth0"]`),
			`targets.a.allow_networks[0]: must be a CIDR (10.1.0.0/16, fd00:1234::/32) or an IP address, got "fe80::1%eth0"`},
		{"v4-mapped", withTarget(`allow_networks: ["::ffff:10.0.0.0/104"]`),
			`targets.a.allow_networks[0]: must write an IPv4 network as IPv4 (a.b.c.d/n), got "::ffff:10.0.0.0/104"`},
		{"not a list", withTarget("allow_networks: 10.0.0.0/8"),
			`targets.a.allow_networks: must be a list, got "10.0.0.0/8"`},
		{"in defaults, reported once", "defaults: {allow_networks: [x]}\n" + validTarget,
			`defaults.allow_networks[0]: must be a CIDR (10.1.0.0/16, fd00:1234::/32) or an IP address, got "x"`},
	} {
		t.Run(tt.name, func(t *testing.T) { wantProblem(t, tt.file, nil, tt.want) })
	}
}
