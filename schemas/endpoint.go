package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// RedactedURLPart is what the user info and the query of an endpoint URL
// become in its display form (DisplayEndpoint): a bare word, unlike
// Redacted, so that the display form stays a well-formed URL.
const RedactedURLPart = "REDACTED"

// endpointHashLen is how many hex digits of the SHA-256 of an endpoint URL
// its display form carries when it hides or drops something.
const endpointHashLen = 8

// DisplayEndpoint returns the one form in which an endpoint URL is shown
// anywhere but the call itself: metrics labels, logs, the history and
// endpoint of dead-letter and fallback records, settle markers, the
// breakers bucket and the CLI. The call goes to the URL as configured.
//
// A URL without user info, query or fragment (every endpoint a config file
// accepts) is its own display form. Otherwise the user info becomes
// "REDACTED@" and a query "?REDACTED", whatever they hold; an empty query
// and the fragment (never sent) are dropped; and "#" and the first 8 hex
// digits of the SHA-256 of the URL as configured follow, so that two
// endpoints differing only in a secret stay two values:
//
//	https://hooks.example.com/in?token=s3cr3t  https://hooks.example.com/in?REDACTED#<8 hex>
//	https://user:pass@[::1]:8443/hook          https://REDACTED@[::1]:8443/hook#<8 hex>
//
// Scheme, host, port and path are kept as written. A string that is not an
// absolute URL ("scheme://…", as net/url parses it) shows as "REDACTED#"
// and its hash. Invalid UTF-8 becomes U+FFFD, so the form is always a valid
// Prometheus label value; it is not a NATS KV key (the breakers bucket keys
// a hash of it). A display form is its own display form.
func DisplayEndpoint(endpoint string) string {
	if displayed(endpoint) {
		return endpoint
	}
	shown, same := displayForm(endpoint)
	if same {
		return shown
	}
	return shown + "#" + endpointHash(endpoint)
}

// displayForm is endpoint with its user info and query redacted, its empty
// query and fragment dropped, without the hash; same reports that nothing
// changed.
func displayForm(endpoint string) (shown string, same bool) {
	u, err := url.Parse(endpoint)
	scheme, rest, ok := strings.Cut(endpoint, "://")
	if err != nil || !ok || u.Scheme == "" || !strings.EqualFold(scheme, u.Scheme) {
		return RedactedURLPart, false
	}
	// Cut as net/url does: the fragment at the first "#", the query at the
	// first "?" before it, the authority at the first "/", the user info
	// at the last "@" of the authority.
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	var b strings.Builder
	b.Grow(len(endpoint))
	b.WriteString(scheme)
	b.WriteString("://")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		b.WriteString(RedactedURLPart)
		b.WriteByte('@')
		authority = authority[i+1:]
	}
	b.WriteString(authority)
	b.WriteString(path)
	if query != "" {
		b.WriteByte('?')
		b.WriteString(RedactedURLPart)
	}
	shown = strings.ToValidUTF8(b.String(), "\uFFFD")
	return shown, shown == endpoint
}

// displayed reports whether s is already a display form that hides or
// drops something: a form displayForm leaves alone, then "#" and a hash.
func displayed(s string) bool {
	i := strings.LastIndexByte(s, '#')
	if i < 0 || !isEndpointHash(s[i+1:]) {
		return false
	}
	shown, _ := displayForm(s[:i])
	return shown == s[:i]
}

// endpointHash is the first hex digits of the SHA-256 of endpoint.
func endpointHash(endpoint string) string {
	h := sha256.Sum256([]byte(endpoint))
	return hex.EncodeToString(h[:endpointHashLen/2])
}

func isEndpointHash(s string) bool {
	if len(s) != endpointHashLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
