package worker

import (
	"encoding/json"
	"net/http"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Redacted is what a secret header's value becomes outside the call itself.
const Redacted = "[REDACTED]"

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
				v = Redacted
			}
			c.Headers[k] = v
		}
	}
	b, err := json.Marshal(&c)
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
			obj["headers"] = json.RawMessage(`"` + Redacted + `"`)
		} else {
			for k := range hs {
				if secret[http.CanonicalHeaderKey(k)] {
					hs[k] = Redacted
				}
			}
			obj["headers"], _ = json.Marshal(hs)
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	return b
}

// RedactedJob returns job as JSON with the always-secret headers and the
// names in extra replaced by "[REDACTED]", for records written outside a
// worker (e.g. jobs for an unknown target).
func RedactedJob(job *schemas.Job, extra []string) json.RawMessage {
	return redactJob(job, secretSet(Target{}, Security{RedactHeaders: extra}))
}
