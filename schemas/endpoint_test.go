package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDisplayEndpoint(t *testing.T) {
	hash := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return "#" + hex.EncodeToString(h[:4])
	}
	tests := []struct {
		name, in, want string
	}{
		{"plain: its own form", "https://pay.example.com", "https://pay.example.com"},
		{"plain with path and slash", "https://pay.example.com/v1/", "https://pay.example.com/v1/"},
		{"port", "http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook"},
		{"no path", "https://h.example.com", "https://h.example.com"},
		{"IPv6 host and port", "http://[::1]:8443/in", "http://[::1]:8443/in"},
		{"IPv6 zone", "http://[fe80::1%25eth0]:80/in", "http://[fe80::1%25eth0]:80/in"},
		{"non-ASCII path kept as written", "https://h.example.com/café/ü", "https://h.example.com/café/ü"},
		{"escaped path kept as written", "https://h.example.com/a%2Fb", "https://h.example.com/a%2Fb"},
		{"query", "https://hooks.example.com/in?token=s3cr3t",
			"https://hooks.example.com/in?REDACTED" + hash("https://hooks.example.com/in?token=s3cr3t")},
		{"query: another token, another hash", "https://hooks.example.com/in?token=other",
			"https://hooks.example.com/in?REDACTED" + hash("https://hooks.example.com/in?token=other")},
		{"query without path", "https://h.example.com?sig=abc", "https://h.example.com?REDACTED" + hash("https://h.example.com?sig=abc")},
		{"query, several values", "https://h.example.com/a?x=1&sig=abc&x=2", "https://h.example.com/a?REDACTED" + hash("https://h.example.com/a?x=1&sig=abc&x=2")},
		{"empty query dropped", "https://h.example.com/p?", "https://h.example.com/p" + hash("https://h.example.com/p?")},
		{"user and password", "https://user:pass@[::1]:8443/hook", "https://REDACTED@[::1]:8443/hook" + hash("https://user:pass@[::1]:8443/hook")},
		{"user alone", "https://user@h.example.com", "https://REDACTED@h.example.com" + hash("https://user@h.example.com")},
		{"@ in the password", "https://u:p@ss@h.example.com/x", "https://REDACTED@h.example.com/x" + hash("https://u:p@ss@h.example.com/x")},
		{"@ in the path is not user info", "https://h.example.com/@team", "https://h.example.com/@team"},
		{"fragment dropped", "https://h.example.com/p#frag", "https://h.example.com/p" + hash("https://h.example.com/p#frag")},
		{"? in the fragment", "https://h.example.com/p#a?b=c", "https://h.example.com/p" + hash("https://h.example.com/p#a?b=c")},
		{"everything, case kept", "HTTPS://u:p@Host.Example.com:8080/A/b?x=1&y=2#f",
			"HTTPS://REDACTED@Host.Example.com:8080/A/b?REDACTED" + hash("HTTPS://u:p@Host.Example.com:8080/A/b?x=1&y=2#f")},
		{"non-ASCII query", "https://h.example.com/ü?t=ключ", "https://h.example.com/ü?REDACTED" + hash("https://h.example.com/ü?t=ключ")},
		{"invalid UTF-8", "https://h.example.com/caf\xff", "https://h.example.com/caf\uFFFD" + hash("https://h.example.com/caf\xff")},
		{"invalid URL", "http://[::1", "REDACTED" + hash("http://[::1")},
		{"invalid URL with a secret", "http://u:p@h.example.com:port/?t=s", "REDACTED" + hash("http://u:p@h.example.com:port/?t=s")},
		{"control byte", "https://h.example.com/\x7f?t=s", "REDACTED" + hash("https://h.example.com/\x7f?t=s")},
		{"not absolute", "h.example.com/in?t=s", "REDACTED" + hash("h.example.com/in?t=s")},
		{"no scheme", "//h.example.com/in", "REDACTED" + hash("//h.example.com/in")},
		{"opaque", "mailto:ops@example.com", "REDACTED" + hash("mailto:ops@example.com")},
		{"empty", "", "REDACTED" + hash("")},
		{"a display form is its own", "https://hooks.example.com/in?REDACTED#c78b34ff", "https://hooks.example.com/in?REDACTED#c78b34ff"},
		{"an opaque display form is its own", "REDACTED#3cbaea5b", "REDACTED#3cbaea5b"},
		{"a fragment that is no hash", "https://h.example.com/p?REDACTED#C78B34FF",
			"https://h.example.com/p?REDACTED" + hash("https://h.example.com/p?REDACTED#C78B34FF")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DisplayEndpoint(tt.in)
			if got != tt.want {
				t.Errorf("DisplayEndpoint(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := DisplayEndpoint(got); again != got {
				t.Errorf("DisplayEndpoint(%q) = %q: not its own display form", got, again)
			}
		})
	}
}

// FuzzDisplayEndpoint holds the display form to its promises on any input:
// valid UTF-8, its own display form, no user info or query but REDACTED,
// and the input's secrets gone.
func FuzzDisplayEndpoint(f *testing.F) {
	for _, s := range []string{
		"https://pay.example.com", "https://u:p@h:1/x?t=s#f", "http://[::1]:80/?", "REDACTED#00000000",
		"https://h/in?REDACTED#c78b34ff", "x://a@b@c/d?e?f#g#h", "https://h/\xff?\xfe", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := DisplayEndpoint(in)
		if !utf8.ValidString(got) {
			t.Fatalf("DisplayEndpoint(%q) = %q: not UTF-8", in, got)
		}
		if again := DisplayEndpoint(got); again != got {
			t.Fatalf("DisplayEndpoint(%q) = %q, then %q", in, got, again)
		}
		if got == in {
			return
		}
		base, _, _ := strings.Cut(got, "#")
		if base == RedactedURLPart {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("DisplayEndpoint(%q) = %q: %v", in, got, err)
		}
		if u.User != nil && u.User.String() != RedactedURLPart || u.RawQuery != "" && u.RawQuery != RedactedURLPart {
			t.Fatalf("DisplayEndpoint(%q) = %q: user info or query shown", in, got)
		}
		if orig, err := url.Parse(in); err == nil && orig.User != nil {
			if p, ok := orig.User.Password(); ok && len(p) > 8 && strings.Contains(got, p) {
				t.Fatalf("DisplayEndpoint(%q) = %q: password shown", in, got)
			}
		}
	})
}
