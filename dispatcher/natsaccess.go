package dispatcher

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
)

// NATSAccessOptions returns the nats.Connect options of n's credentials
// (user/password, token, NKey seed file, .creds file) and TLS files (custom
// CA, client certificate). Errors name files, never a secret.
func NATSAccessOptions(n config.NATS) ([]nats.Option, error) {
	var opts []nats.Option
	if n.User != "" || n.Password != "" {
		opts = append(opts, nats.UserInfo(n.User, n.Password))
	}
	if n.Token != "" {
		opts = append(opts, nats.Token(n.Token))
	}
	if n.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(n.NKey)
		if err != nil {
			return nil, fmt.Errorf("nats nkey seed file %s: %w", n.NKey, err)
		}
		opts = append(opts, o)
	}
	if n.Creds != "" {
		opts = append(opts, nats.UserCredentials(n.Creds))
	}
	if n.TLS.CA != "" {
		opts = append(opts, nats.RootCAs(n.TLS.CA))
	}
	if n.TLS.Cert != "" || n.TLS.Key != "" {
		opts = append(opts, nats.ClientCert(n.TLS.Cert, n.TLS.Key))
	}
	return opts, nil
}

// EmbeddedAccess returns n as a client of the embedded server (no
// nats.url) uses it: with nats.embedded.token, when set, as its token.
// The service's own connection and the operator commands' --config both
// go through it.
func EmbeddedAccess(n config.NATS) config.NATS {
	if n.Embedded.Token != "" {
		n.Token = n.Embedded.Token
	}
	return n
}

// RedactNATSURL masks the password of every URL of a comma-separated NATS
// URL list, for logs and messages.
func RedactNATSURL(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			if strings.Contains(p, "@") {
				parts[i] = "[REDACTED]"
			}
			continue
		}
		if u.User != nil {
			u.User = nil
			parts[i] = u.Scheme + "://[REDACTED]@" + strings.TrimPrefix(u.String(), u.Scheme+"://")
		}
	}
	return strings.Join(parts, ",")
}
