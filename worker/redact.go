package worker

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/jetdispatch/dispatcher/schemas"
)

// alwaysSecret are redacted whatever the config says.
var alwaysSecret = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key"}

// secretSet returns the canonical names of every header to redact for t.
func secretSet(t Target, sec Security) map[string]bool {
	m := map[string]bool{}
	for _, n := range alwaysSecret {
		m[http.CanonicalHeaderKey(n)] = true
	}
	for n := range t.Headers {
		m[http.CanonicalHeaderKey(n)] = true
	}
	for _, n := range sec.RedactHeaders {
		m[http.CanonicalHeaderKey(n)] = true
	}
	return m
}

// redactJob returns the job as JSON with secret header values replaced.
func redactJob(job *schemas.Job, secret map[string]bool) json.RawMessage {
	c := *job
	if len(job.Headers) > 0 {
		c.Headers = make(map[string]string, len(job.Headers))
		for k, v := range job.Headers {
			if secret[http.CanonicalHeaderKey(k)] {
				v = schemas.Redacted
			}
			c.Headers[k] = v
		}
	}
	b, err := schemas.Marshal(&c)
	if err != nil {
		return nil
	}
	return b
}

// redactObject redacts the "headers" member of a JSON object that did not
// decode as a valid job; anything else is kept as it came.
func redactObject(raw []byte, secret map[string]bool) json.RawMessage {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil
	}
	if hv, ok := obj["headers"]; ok {
		var hs map[string]any
		if err := json.Unmarshal(hv, &hs); err != nil {
			obj["headers"] = json.RawMessage(`"` + schemas.Redacted + `"`)
		} else {
			for k := range hs {
				if secret[http.CanonicalHeaderKey(k)] {
					hs[k] = schemas.Redacted
				}
			}
			obj["headers"], _ = schemas.Marshal(hs)
		}
	}
	b, err := schemas.Marshal(obj)
	if err != nil {
		return nil
	}
	return b
}

// rawRedactor masks, in bytes that are not a decodable job (truncated JSON,
// say), the values of secret headers written the JSON way:
// "Name": "value" (names matched case-insensitively), and the target's own
// configured values wherever they appear. The record keeps the rest of the
// original bytes, as the contract asks. Built once per target.
type rawRedactor struct {
	pairs  *regexp.Regexp
	values [][]byte
}

func newRawRedactor(secret map[string]bool, values []string) *rawRedactor {
	names := make([]string, 0, len(secret))
	for n := range secret {
		names = append(names, regexp.QuoteMeta(n))
	}
	sort.Strings(names)
	r := &rawRedactor{pairs: pairsFor(strings.Join(names, "|"))}
	for _, v := range values {
		if len(v) >= 4 {
			r.values = append(r.values, []byte(v))
		}
	}
	return r
}

func (r *rawRedactor) redact(raw []byte) []byte {
	if len(raw) == 0 {
		return raw
	}
	out := r.pairs.ReplaceAll(raw, []byte("${1}"+schemas.Redacted+"${3}"))
	for _, v := range r.values {
		out = bytes.ReplaceAll(out, v, []byte(schemas.Redacted))
	}
	return out
}

// Redactor redacts jobs for records written outside a worker (jobs for an
// unknown target) the way a worker does: the always-secret headers and the
// extra names become "[REDACTED]". Built once; safe for concurrent use.
type Redactor struct {
	secret map[string]bool
	raw    *rawRedactor
}

// NewRedactor returns the Redactor of the always-secret headers and extra
// (security.redact_headers).
func NewRedactor(extra []string) *Redactor {
	secret := secretSet(Target{}, Security{RedactHeaders: extra})
	return &Redactor{secret: secret, raw: newRawRedactor(secret, nil)}
}

// Job returns job as JSON, secret header values replaced.
func (r *Redactor) Job(job *schemas.Job) json.RawMessage { return redactJob(job, r.secret) }

// Object redacts the headers of a JSON object that is not a valid job (nil
// when raw is not a JSON object).
func (r *Redactor) Object(raw []byte) json.RawMessage { return redactObject(raw, r.secret) }

// Raw masks secret "Name": "value" pairs in bytes that are not a JSON object.
func (r *Redactor) Raw(raw []byte) []byte { return r.raw.redact(raw) }

// pairsCache holds the compiled pattern of each set of secret names (as
// joined by newRawRedactor): targets with the same header names share one,
// so that a worker costs no compiled regexp of its own (about 8 kB each).
var pairsCache sync.Map // string → *regexp.Regexp

// pairsFor returns the pattern matching "name": "value" pairs of names
// (alternatives, quoted).
func pairsFor(names string) *regexp.Regexp {
	if re, ok := pairsCache.Load(names); ok {
		return re.(*regexp.Regexp)
	}
	re, _ := pairsCache.LoadOrStore(names, regexp.MustCompile(`(?i)("(?:`+names+`)"\s*:\s*")((?:[^"\\]|\\.)*)("?)`))
	return re.(*regexp.Regexp)
}
