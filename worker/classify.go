package worker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jetdispatch/dispatcher/schemas"
)

// classifyStatus returns the error class of a non-2xx status. Statuses the
// contract has no class for (1xx, and 3xx since redirects are not followed)
// count as http_4xx: final answers that a retry would not change.
func classifyStatus(status int) string {
	switch {
	case status == 429:
		return schemas.ClassHTTP429
	case status >= 500:
		return schemas.ClassHTTP5xx
	default:
		return schemas.ClassHTTP4xx
	}
}

// classifyError returns the error class of a failed call (no response). ctx is
// the call's context: a call cut by its total deadline is timeout_total
// whatever the transport reported.
func classifyError(ctx context.Context, err error) string {
	var ssrf *SSRFError
	if errors.As(err, &ssrf) {
		return schemas.ClassSSRFBlocked
	}
	msg := err.Error()
	// net/http refuses to send a request with a header it cannot write (a
	// control byte in a value, a bad name): the job's fault, not the
	// target's — never retried, never counted against a breaker.
	if strings.Contains(msg, "net/http: invalid header field") {
		return schemas.ClassInvalidJob
	}
	// net/http reports these two with unexported error types (which may
	// also match context.DeadlineExceeded), so they are looked at first.
	if strings.Contains(msg, "timeout awaiting response headers") {
		return schemas.ClassTimeoutResponseHeader
	}
	if strings.Contains(msg, "TLS handshake timeout") {
		return schemas.ClassTimeoutTLS
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return schemas.ClassTimeoutTotal // the call's own deadline passed
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return schemas.ClassTimeoutConnect
		}
		return schemas.ClassDNS
	}
	// A dial cut by the dialer's connect timeout also matches
	// context.DeadlineExceeded: it is looked at first.
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" && opErr.Timeout() {
		return schemas.ClassTimeoutConnect
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return schemas.ClassTimeoutTotal
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return schemas.ClassConnectionRefused
	}
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &recErr) || errors.As(err, &alert) ||
		errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &invalid) ||
		strings.Contains(msg, "tls: ") {
		return schemas.ClassTLS
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "server closed") {
		return schemas.ClassConnectionReset
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return schemas.ClassTimeoutTotal
	}
	return schemas.ClassConnectionReset
}

// retryableClass reports whether a failure of this class may succeed later.
// Status classes are decided by the target's retry_on_status instead.
func retryableClass(class string) bool {
	switch class {
	case schemas.ClassTimeoutConnect, schemas.ClassTimeoutTLS, schemas.ClassTimeoutResponseHeader, schemas.ClassTimeoutTotal,
		schemas.ClassDNS, schemas.ClassConnectionRefused, schemas.ClassConnectionReset:
		return true
	}
	return false
}
