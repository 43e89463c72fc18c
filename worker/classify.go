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
)

// Error classes of the contract (docs/contract.md section 3.3).
const (
	ClassHTTP5xx               = "http_5xx"
	ClassHTTP429               = "http_429"
	ClassHTTP4xx               = "http_4xx"
	ClassTimeoutConnect        = "timeout_connect"
	ClassTimeoutTLS            = "timeout_tls"
	ClassTimeoutResponseHeader = "timeout_response_header"
	ClassTimeoutTotal          = "timeout_total"
	ClassDNS                   = "dns"
	ClassConnectionRefused     = "connection_refused"
	ClassConnectionReset       = "connection_reset"
	ClassTLS                   = "tls"
	ClassSSRFBlocked           = "ssrf_blocked"
	ClassResponseTooLarge      = "response_too_large"
	ClassInvalidJob            = "invalid_job"
	ClassUnknownTarget         = "unknown_target"
	ClassExpired               = "expired"
	ClassCircuitOpen           = "circuit_open"
)

// classifyStatus returns the error class of a non-2xx status. Statuses the
// contract has no class for (1xx, and 3xx since redirects are not followed)
// count as http_4xx: final answers that a retry would not change.
func classifyStatus(status int) string {
	switch {
	case status == 429:
		return ClassHTTP429
	case status >= 500:
		return ClassHTTP5xx
	default:
		return ClassHTTP4xx
	}
}

// classifyError returns the error class of a failed call (no response). ctx is
// the call's context: a call cut by its total deadline is timeout_total
// whatever the transport reported.
func classifyError(ctx context.Context, err error) string {
	var ssrf *SSRFError
	if errors.As(err, &ssrf) {
		return ClassSSRFBlocked
	}
	msg := err.Error()
	// net/http reports these two with unexported error types (which may
	// also match context.DeadlineExceeded), so they are looked at first.
	if strings.Contains(msg, "timeout awaiting response headers") {
		return ClassTimeoutResponseHeader
	}
	if strings.Contains(msg, "TLS handshake timeout") {
		return ClassTimeoutTLS
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return ClassTimeoutTotal
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return ClassTimeoutConnect
		}
		return ClassDNS
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" && opErr.Timeout() {
		return ClassTimeoutConnect
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return ClassConnectionRefused
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
		return ClassTLS
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(msg, "connection reset") || strings.Contains(msg, "server closed") {
		return ClassConnectionReset
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ClassTimeoutTotal
	}
	return ClassConnectionReset
}

// retryableClass reports whether a failure of this class may succeed later.
// Status classes are decided by the target's retry_on_status instead.
func retryableClass(class string) bool {
	switch class {
	case ClassTimeoutConnect, ClassTimeoutTLS, ClassTimeoutResponseHeader, ClassTimeoutTotal,
		ClassDNS, ClassConnectionRefused, ClassConnectionReset:
		return true
	}
	return false
}
