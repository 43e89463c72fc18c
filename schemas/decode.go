package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"
)

// ErrInvalidJob is the sentinel of every error DecodeJob returns: the
// payload is not a valid job (docs/contract.md section 2, job.v1.schema.json).
var ErrInvalidJob = errors.New("invalid job")

// JobError says which rule of the job format a payload broke.
// errors.Is(err, ErrInvalidJob) holds for a *JobError.
type JobError struct {
	// Field is the top-level field at fault, or empty when the payload as a
	// whole is at fault (not JSON, not an object).
	Field string
	// Reason says what is wrong, e.g. `must start with "/"`.
	Reason string
}

// reasonUnknownField is the Reason of a field the job format does not have.
const reasonUnknownField = "unknown field"

// reasonBase64 is the Reason of a body_base64 that is not standard base64,
// from DecodeJob and from Job.BodyBytes alike.
const reasonBase64 = "must be standard base64 with padding"

// Error reads like `invalid job: field "path": must start with "/"`,
// `invalid job: unknown field "colour"` or `invalid job: not JSON: ...`.
func (e *JobError) Error() string {
	switch {
	case e.Field == "":
		return "invalid job: " + e.Reason
	case e.Reason == reasonUnknownField:
		return fmt.Sprintf("invalid job: unknown field %q", e.Field)
	default:
		return fmt.Sprintf("invalid job: field %q: %s", e.Field, e.Reason)
	}
}

// Is reports whether target is ErrInvalidJob.
func (e *JobError) Is(target error) bool { return target == ErrInvalidJob }

// The fields of a job, in the order DecodeJob checks them.
const (
	fieldID = iota
	fieldTarget
	fieldMethod
	fieldPath
	fieldHeaders
	fieldBody
	fieldBodyBase64
	fieldTimeoutMS
	fieldMaxAttempts
	fieldNotAfter
	fieldReplyTo
	fieldTraceID
	fieldMeta
	numFields
)

// fieldNames are the JSON names of the fields, indexed by the constants above.
var fieldNames = [numFields]string{
	"id", "target", "method", "path", "headers", "body", "body_base64",
	"timeout_ms", "max_attempts", "not_after", "reply_to", "trace_id", "meta",
}

// Limits of the integer fields (job.v1.schema.json).
const (
	maxTimeoutMS   = 86_400_000
	maxMaxAttempts = 100
)

// DecodeJob decodes and checks a job payload. It accepts exactly the
// payloads that validate against job.v1.schema.json, and is the decoder every
// worker uses; it is many times cheaper than schema validation.
//
// The rules beyond the schema's plain types: keys match field names exactly
// (case-sensitive); when a key appears twice the last occurrence counts, as
// with any JSON object decoder; an optional field set to null is rejected,
// except body and meta, where null means absent (Body and Meta stay nil); a
// number is an integer when its value is, so 5000, 5000.0 and 5e3 all read
// as 5000; a leap second in not_after reads as the first second of the next
// minute. Every error is a *JobError.
func DecodeJob(data []byte) (*Job, error) {
	if !json.Valid(data) {
		return nil, notJSON(data)
	}
	var raw [numFields][]byte
	if err := splitObject(data, &raw); err != nil {
		return nil, err
	}
	return buildJob(&raw)
}

// notJSON reports why data is not one JSON value.
func notJSON(data []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	if err == nil { // unreachable: json.Valid and json.Unmarshal agree
		err = errors.New("invalid JSON")
	}
	return &JobError{Reason: "not JSON: " + err.Error()}
}

// splitObject stores in raw the value of each job field of the object data,
// which must be valid JSON. A later duplicate key overwrites an earlier one.
func splitObject(data []byte, raw *[numFields][]byte) error {
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return &JobError{Reason: "not a JSON object"}
	}
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return nil
	}
	for {
		keyEnd, escaped := stringEnd(data, i)
		f := fieldIndex(data[i:keyEnd], escaped)
		if f < 0 {
			return &JobError{Field: decodeKey(data[i:keyEnd], escaped), Reason: reasonUnknownField}
		}
		i = skipSpace(data, skipSpace(data, keyEnd)+1) // past the colon
		end := valueEnd(data, i)
		raw[f] = data[i:end]
		i = skipSpace(data, end)
		if data[i] == '}' {
			return nil
		}
		i = skipSpace(data, i+1) // past the comma
	}
}

// fieldIndex returns the field whose name the quoted key is, or -1.
func fieldIndex(quoted []byte, escaped bool) int {
	var key string
	if escaped {
		key = decodeKey(quoted, true)
	} else {
		key = string(quoted[1 : len(quoted)-1]) // no allocation: used in a switch
	}
	switch key {
	case "id":
		return fieldID
	case "target":
		return fieldTarget
	case "method":
		return fieldMethod
	case "path":
		return fieldPath
	case "headers":
		return fieldHeaders
	case "body":
		return fieldBody
	case "body_base64":
		return fieldBodyBase64
	case "timeout_ms":
		return fieldTimeoutMS
	case "max_attempts":
		return fieldMaxAttempts
	case "not_after":
		return fieldNotAfter
	case "reply_to":
		return fieldReplyTo
	case "trace_id":
		return fieldTraceID
	case "meta":
		return fieldMeta
	}
	return -1
}

// decodeKey returns the text of a quoted JSON object key.
func decodeKey(quoted []byte, escaped bool) string {
	s, _ := decodeString(quoted, escaped)
	return s
}

// buildJob checks the raw field values and builds the job from them.
func buildJob(raw *[numFields][]byte) (*Job, error) {
	j := new(Job)
	bad := func(f int, reason string) error { return &JobError{Field: fieldNames[f], Reason: reason} }
	str := func(f int) (string, error) {
		s, ok := jsonString(raw[f])
		if !ok {
			return "", bad(f, "must be a string")
		}
		return s, nil
	}
	var err error

	if raw[fieldID] == nil {
		return nil, bad(fieldID, "is required")
	}
	if j.ID, err = str(fieldID); err != nil {
		return nil, err
	}
	if !validID(j.ID) {
		return nil, bad(fieldID, "must be 1 to 128 characters from A-Z a-z 0-9 . _ : -")
	}

	if raw[fieldTarget] != nil {
		if j.Target, err = str(fieldTarget); err != nil {
			return nil, err
		}
		if !ValidTarget(j.Target) {
			return nil, bad(fieldTarget, "must be 1 to 64 characters from A-Z a-z 0-9 _ -")
		}
	}

	if raw[fieldMethod] != nil {
		if j.Method, err = str(fieldMethod); err != nil {
			return nil, err
		}
		if !validMethod(j.Method) {
			return nil, bad(fieldMethod, "must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		}
	}

	if raw[fieldPath] != nil {
		if j.Path, err = str(fieldPath); err != nil {
			return nil, err
		}
		if reason := checkPath(j.Path); reason != "" {
			return nil, bad(fieldPath, reason)
		}
	}

	if raw[fieldHeaders] != nil {
		if j.Headers, err = decodeHeaders(raw[fieldHeaders]); err != nil {
			return nil, err
		}
	}

	hasBody := raw[fieldBody] != nil && !isNull(raw[fieldBody])
	if hasBody {
		j.Body = bytes.Clone(raw[fieldBody])
	}

	if raw[fieldBodyBase64] != nil {
		if j.BodyBase64, err = str(fieldBodyBase64); err != nil {
			return nil, err
		}
		if !validBase64(j.BodyBase64) {
			return nil, bad(fieldBodyBase64, reasonBase64)
		}
		if hasBody {
			return nil, bad(fieldBodyBase64, `must not be given together with "body"`)
		}
	}

	if raw[fieldTimeoutMS] != nil {
		if j.TimeoutMS, err = intField(fieldTimeoutMS, raw[fieldTimeoutMS], maxTimeoutMS); err != nil {
			return nil, err
		}
	}

	if raw[fieldMaxAttempts] != nil {
		if j.MaxAttempts, err = intField(fieldMaxAttempts, raw[fieldMaxAttempts], maxMaxAttempts); err != nil {
			return nil, err
		}
	}

	if raw[fieldNotAfter] != nil {
		s, err := str(fieldNotAfter)
		if err != nil {
			return nil, err
		}
		t, ok := parseDateTime(s)
		if !ok {
			return nil, bad(fieldNotAfter, "must be an RFC 3339 date-time, e.g. 2026-11-26T10:00:00Z")
		}
		j.NotAfter = &t
	}

	if raw[fieldReplyTo] != nil {
		if j.ReplyTo, err = str(fieldReplyTo); err != nil {
			return nil, err
		}
		if reason := checkSubject(j.ReplyTo); reason != "" {
			return nil, bad(fieldReplyTo, reason)
		}
	}

	if raw[fieldTraceID] != nil {
		if j.TraceID, err = str(fieldTraceID); err != nil {
			return nil, err
		}
		if !validTraceID(j.TraceID) {
			return nil, bad(fieldTraceID, "must be 32 lowercase hex characters, not all zero")
		}
	}

	if raw[fieldMeta] != nil && !isNull(raw[fieldMeta]) {
		j.Meta = bytes.Clone(raw[fieldMeta])
	}
	return j, nil
}

// intField reads the integer field f, which must lie in [1, hi].
func intField(f int, v []byte, hi int64) (int, error) {
	n, verdict := parseInt(v, 1, hi)
	switch verdict {
	case intOK:
		return int(n), nil
	case intOutOfRange:
		return 0, &JobError{Field: fieldNames[f], Reason: fmt.Sprintf("must be between 1 and %d", hi)}
	default:
		return 0, &JobError{Field: fieldNames[f], Reason: "must be an integer"}
	}
}

// decodeHeaders reads the headers object v. As with any JSON object decoder
// a later duplicate name overwrites an earlier one, so a value is judged
// only once the whole object has been read.
func decodeHeaders(v []byte) (map[string]string, error) {
	if v[0] != '{' {
		return nil, &JobError{Field: "headers", Reason: "must be an object"}
	}
	h := make(map[string]string)
	var bad map[string]string // header name -> why its (last) value is invalid
	i := skipSpace(v, 1)
	if v[i] != '}' {
		for {
			keyEnd, escaped := stringEnd(v, i)
			name := decodeKey(v[i:keyEnd], escaped)
			if !validToken(name) {
				return nil, &JobError{Field: "headers", Reason: fmt.Sprintf("name %q is not an HTTP header token", name)}
			}
			i = skipSpace(v, skipSpace(v, keyEnd)+1)
			end := valueEnd(v, i)
			why := ""
			if s, ok := jsonString(v[i:end]); !ok {
				why = "must be a string"
			} else if !validHeaderValue(s) {
				why = "must not hold control characters other than tab"
			} else {
				h[name] = s
			}
			if why != "" {
				if bad == nil {
					bad = make(map[string]string)
				}
				bad[name] = why
				delete(h, name)
			} else if bad != nil {
				delete(bad, name)
			}
			i = skipSpace(v, end)
			if v[i] == '}' {
				break
			}
			i = skipSpace(v, i+1)
		}
	}
	if len(bad) > 0 {
		name := slices.Min(slices.Collect(maps.Keys(bad)))
		return nil, &JobError{Field: "headers", Reason: fmt.Sprintf("value of %q %s", name, bad[name])}
	}
	return h, nil
}

// jsonString returns the text of v when v is a JSON string.
func jsonString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	return decodeString(v, bytes.IndexByte(v[1:len(v)-1], '\\') >= 0)
}

// decodeString returns the text of the valid quoted JSON string q exactly as
// encoding/json decodes it (invalid UTF-8 and lone surrogates become U+FFFD).
func decodeString(q []byte, escaped bool) (string, bool) {
	inner := q[1 : len(q)-1]
	if !escaped && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", false
	}
	return s, true
}

// isNull reports whether the raw value v is the literal null.
func isNull(v []byte) bool { return string(v) == "null" }

// skipSpace returns the index of the first non-space byte of d at or after i.
func skipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at d[i],
// and whether the string holds an escape. d must be valid JSON.
func stringEnd(d []byte, i int) (end int, escaped bool) {
	for i++; ; i++ {
		switch d[i] {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			i++
		}
	}
}

// valueEnd returns the index just past the JSON value starting at d[i].
// d must be valid JSON.
func valueEnd(d []byte, i int) int {
	switch d[i] {
	case '"':
		end, _ := stringEnd(d, i)
		return end
	case '{', '[':
		depth := 0
		for {
			switch d[i] {
			case '"':
				i, _ = stringEnd(d, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
	default: // number, true, false, null
		for i < len(d) {
			switch d[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}
