package schemas

import "unicode/utf8"

// The checks in this file are the patterns and limits of job.v1.schema.json,
// written out by hand so that DecodeJob needs no regular expressions. The
// schema's regular expressions work on Unicode characters and its length
// limits count them, so the checks below do too.

// Length limits of job.v1.schema.json.
const (
	maxIDLen      = 128
	maxTargetLen  = 64
	maxPathLen    = 8192
	maxSubjectLen = 255
)

// validID reports whether s matches ^[A-Za-z0-9._:-]{1,128}$.
func validID(s string) bool {
	if len(s) < 1 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

// ValidTarget reports whether s matches ^[A-Za-z0-9_-]{1,64}$, the contract's
// target names (the last token of <prefix>.jobs.<target>).
func ValidTarget(s string) bool {
	if len(s) < 1 || len(s) > maxTargetLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validMethod reports whether s is one of the methods a job may use.
func validMethod(s string) bool {
	switch s {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return true
	}
	return false
}

// checkPath returns why s is not a valid path (^/[^\s\x00-\x1f\x7f]*$, at
// most 8192 characters), or "" when it is.
func checkPath(s string) string {
	if len(s) == 0 || s[0] != '/' {
		return `must start with "/"`
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return "must not contain whitespace or control characters"
		}
	}
	if len(s) > maxPathLen && utf8.RuneCountInString(s) > maxPathLen {
		return "must be at most 8192 characters"
	}
	return ""
}

// validToken reports whether s is an HTTP header field name: one or more
// RFC 7230 tchar.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isTchar reports whether c is an RFC 7230 tchar.
func isTchar(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validHeaderValue reports whether s holds no control character other than
// horizontal tab (^[^\x00-\x08\x0a-\x1f\x7f]*$), the rule net/http applies
// to outgoing header values.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validBase64 reports whether s is standard base64 with padding:
// ^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$.
func validBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	n := len(s)
	if n > 0 && s[n-1] == '=' {
		n--
		if s[n-1] == '=' {
			n--
		}
	}
	for i := 0; i < n; i++ {
		if c := s[i]; !isAlnum(c) && c != '+' && c != '/' {
			return false
		}
	}
	return true
}

// checkSubject returns why s is not a NATS publish subject (non-empty tokens
// separated by single dots, no whitespace, control characters, * or >, at
// most 255 characters), or "" when it is.
func checkSubject(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > maxSubjectLen && utf8.RuneCountInString(s) > maxSubjectLen {
		return "must be at most 255 characters"
	}
	prev := byte('.')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return "must be a NATS subject: no whitespace or control characters"
		case c == '*' || c == '>':
			return "must be a NATS subject without wildcards (* or >)"
		case c == '.' && prev == '.':
			return "must be a NATS subject: tokens must not be empty"
		}
		prev = c
	}
	if prev == '.' {
		return "must be a NATS subject: tokens must not be empty"
	}
	return ""
}

// ValidJobID reports whether s is a valid job id: it matches
// ^[A-Za-z0-9._:-]{1,128}$, the pattern of a job's id and a result's job_id.
func ValidJobID(s string) bool { return validID(s) }

// ValidTraceID reports whether s is a W3C trace id as records and results
// carry it: 32 lowercase hex characters, not all zero.
func ValidTraceID(s string) bool { return validTraceID(s) }

// validTraceID reports whether s is a W3C trace id: 32 lowercase hex
// characters, not all zero.
func validTraceID(s string) bool {
	if len(s) != 32 {
		return false
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
		zero = zero && c == '0'
	}
	return !zero
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
