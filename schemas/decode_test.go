package schemas

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

// contractJob is the job example of docs/contract.md section 2.
const contractJob = `{
  "id": "ord-1001",
  "target": "payments",
  "method": "POST",
  "path": "/v1/charges?src=queue",
  "headers": {"Content-Type": "application/json"},
  "body": {"amount": 100},
  "timeout_ms": 5000,
  "max_attempts": 3,
  "not_after": "2026-11-26T10:00:00Z",
  "reply_to": "app.results.orders",
  "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
  "meta": {"order": 1001}
}`

// decodeCase is one payload and DecodeJob's expected verdict on it.
type decodeCase struct {
	name string
	in   string
	ok   bool
	// field is the JobError's Field when !ok ("" for the payload as a whole).
	field string
}

// withID returns a job object holding id "a" and the given extra members.
func withID(members string) string { return `{"id":"a",` + members + `}` }

var decodeCases = []decodeCase{
	// Accepted.
	{name: "contract example", in: contractJob, ok: true},
	{name: "only id", in: `{"id":"a"}`, ok: true},
	{name: "id of every allowed character", in: `{"id":"AZaz09._:-"}`, ok: true},
	{name: "id of 128 characters", in: `{"id":"` + strings.Repeat("x", 128) + `"}`, ok: true},
	{name: "whitespace around everything", in: " \n\t{ \"id\" : \"a\" ,\r\n \"path\" : \"/\" } \n", ok: true},
	{name: "escaped key", in: `{"\u0069d":"a"}`, ok: true},
	{name: "escaped value", in: `{"id":"\u0061b"}`, ok: true},
	{name: "every method", in: withID(`"method":"OPTIONS"`), ok: true},
	{name: "path with unicode and query", in: withID(`"path":"/caf\u00e9/é?q=1&r=%20#frag"`), ok: true},
	{name: "path of 8192 characters", in: withID(`"path":"/` + strings.Repeat("é", 8191) + `"`), ok: true},
	{name: "empty headers", in: withID(`"headers":{}`), ok: true},
	{name: "header value with tab and utf-8", in: withID(`"headers":{"X-A":"a\tb é","x_b~!#$%&'*+.^|` + "`" + `":""}`), ok: true},
	{name: "duplicate header name, last valid", in: withID(`"headers":{"X-A":"bad\u0000","X-A":"ok"}`), ok: true},
	{name: "body array", in: withID(`"body":[1,"two",{"three":null}]`), ok: true},
	{name: "body string", in: withID(`"body":"text"`), ok: true},
	{name: "body null", in: withID(`"body":null`), ok: true},
	{name: "body null with body_base64", in: withID(`"body":null,"body_base64":"aGk="`), ok: true},
	{name: "body_base64 padded", in: withID(`"body_base64":"aGVsbG8="`), ok: true},
	{name: "body_base64 empty", in: withID(`"body_base64":""`), ok: true},
	{name: "integers spelled as decimals", in: withID(`"timeout_ms":5000.0,"max_attempts":1e1`), ok: true},
	{name: "integer with negative exponent", in: withID(`"timeout_ms":500e-2`), ok: true},
	{name: "integer limits", in: withID(`"timeout_ms":86400000,"max_attempts":100`), ok: true},
	{name: "integer lower limits", in: withID(`"timeout_ms":1,"max_attempts":0.1e1`), ok: true},
	{name: "not_after with offset and nanoseconds", in: withID(`"not_after":"2026-11-26T10:00:00.123456789123+05:30"`), ok: true},
	{name: "not_after lowercase t and z", in: withID(`"not_after":"2026-11-26t10:00:00z"`), ok: true},
	{name: "not_after leap second", in: withID(`"not_after":"2016-12-31T23:59:60Z"`), ok: true},
	{name: "not_after leap second with offset", in: withID(`"not_after":"2017-01-01T00:59:60+01:00"`), ok: true},
	{name: "not_after 29 February", in: withID(`"not_after":"2024-02-29T00:00:00Z"`), ok: true},
	{name: "reply_to of one token", in: withID(`"reply_to":"inbox"`), ok: true},
	{name: "reply_to of 255 characters", in: withID(`"reply_to":"` + strings.Repeat("a.", 127) + `a"`), ok: true},
	{name: "reply_to with unicode and dashes", in: withID(`"reply_to":"_INBOX.ab-c.é$"`), ok: true},
	{name: "meta null", in: withID(`"meta":null`), ok: true},
	{name: "meta scalar", in: withID(`"meta":42`), ok: true},
	{name: "duplicate id, last valid", in: `{"id":5,"id":"ok"}`, ok: true},
	{name: "duplicate body, last null", in: withID(`"body":1,"body_base64":"","body":null`), ok: true},

	// Rejected as a whole.
	{name: "empty payload", in: ``},
	{name: "only whitespace", in: " \n"},
	{name: "truncated", in: `{"id":`},
	{name: "trailing garbage", in: `{"id":"a"} x`},
	{name: "two objects", in: `{"id":"a"}{"id":"b"}`},
	{name: "single quotes", in: `{'id':'a'}`},
	{name: "array", in: `[{"id":"a"}]`},
	{name: "null", in: `null`},
	{name: "string", in: `"a"`},

	// Rejected for one field.
	{name: "no id", in: `{}`, field: "id"},
	{name: "id empty", in: `{"id":""}`, field: "id"},
	{name: "id of 129 characters", in: `{"id":"` + strings.Repeat("x", 129) + `"}`, field: "id"},
	{name: "id with space", in: `{"id":"a b"}`, field: "id"},
	{name: "id with slash", in: `{"id":"a/b"}`, field: "id"},
	{name: "id number", in: `{"id":1001}`, field: "id"},
	{name: "id null", in: `{"id":null}`, field: "id"},
	{name: "duplicate id, last invalid", in: `{"id":"ok","id":5}`, field: "id"},
	{name: "unknown field", in: withID(`"colour":"red"`), field: "colour"},
	{name: "field name in another case", in: `{"ID":"a"}`, field: "ID"},
	{name: "target with space", in: withID(`"target":"pay ments"`), field: "target"},
	{name: "target empty", in: withID(`"target":""`), field: "target"},
	{name: "target null", in: withID(`"target":null`), field: "target"},
	{name: "method lowercase", in: withID(`"method":"post"`), field: "method"},
	{name: "method TRACE", in: withID(`"method":"TRACE"`), field: "method"},
	{name: "path without slash", in: withID(`"path":"v1/charges"`), field: "path"},
	{name: "path empty", in: withID(`"path":""`), field: "path"},
	{name: "path with space", in: withID(`"path":"/a b"`), field: "path"},
	{name: "path with NUL", in: withID(`"path":"/a\u0000"`), field: "path"},
	{name: "path with DEL", in: withID(`"path":"/a\u007f"`), field: "path"},
	{name: "path of 8193 characters", in: withID(`"path":"/` + strings.Repeat("é", 8192) + `"`), field: "path"},
	{name: "headers array", in: withID(`"headers":[]`), field: "headers"},
	{name: "headers null", in: withID(`"headers":null`), field: "headers"},
	{name: "header name with space", in: withID(`"headers":{"X A":"1"}`), field: "headers"},
	{name: "header name empty", in: withID(`"headers":{"":"1"}`), field: "headers"},
	{name: "header name with colon", in: withID(`"headers":{"X-A:":"1"}`), field: "headers"},
	{name: "header value with CRLF", in: withID(`"headers":{"X-A":"1\r\nX-B: 2"}`), field: "headers"},
	{name: "header value number", in: withID(`"headers":{"X-A":1}`), field: "headers"},
	{name: "duplicate header name, last invalid", in: withID(`"headers":{"X-A":"ok","X-A":null}`), field: "headers"},
	{name: "body and body_base64", in: withID(`"body":{},"body_base64":"aGk="`), field: "body_base64"},
	{name: "body and empty body_base64", in: withID(`"body":0,"body_base64":""`), field: "body_base64"},
	{name: "body_base64 unpadded", in: withID(`"body_base64":"aGk"`), field: "body_base64"},
	{name: "body_base64 url alphabet", in: withID(`"body_base64":"a-_="`), field: "body_base64"},
	{name: "body_base64 with newline", in: withID(`"body_base64":"aGVs\nbG8="`), field: "body_base64"},
	{name: "body_base64 null", in: withID(`"body_base64":null`), field: "body_base64"},
	{name: "timeout_ms zero", in: withID(`"timeout_ms":0`), field: "timeout_ms"},
	{name: "timeout_ms negative", in: withID(`"timeout_ms":-1`), field: "timeout_ms"},
	{name: "timeout_ms above limit", in: withID(`"timeout_ms":86400001`), field: "timeout_ms"},
	{name: "timeout_ms fraction", in: withID(`"timeout_ms":1.5`), field: "timeout_ms"},
	{name: "timeout_ms string", in: withID(`"timeout_ms":"5000"`), field: "timeout_ms"},
	{name: "timeout_ms null", in: withID(`"timeout_ms":null`), field: "timeout_ms"},
	{name: "timeout_ms huge", in: withID(`"timeout_ms":1e400`), field: "timeout_ms"},
	{name: "timeout_ms exponent past big.Rat", in: withID(`"timeout_ms":1e1000001`), field: "timeout_ms"},
	{name: "timeout_ms tiny", in: withID(`"timeout_ms":1e-400`), field: "timeout_ms"},
	{name: "timeout_ms duplicate, last null", in: withID(`"timeout_ms":5,"timeout_ms":null`), field: "timeout_ms"},
	{name: "max_attempts above limit", in: withID(`"max_attempts":101`), field: "max_attempts"},
	{name: "max_attempts boolean", in: withID(`"max_attempts":true`), field: "max_attempts"},
	{name: "not_after 30 February", in: withID(`"not_after":"2026-02-30T00:00:00Z"`), field: "not_after"},
	{name: "not_after with space", in: withID(`"not_after":"2026-11-26 10:00:00Z"`), field: "not_after"},
	{name: "not_after without zone", in: withID(`"not_after":"2026-11-26T10:00:00"`), field: "not_after"},
	{name: "not_after date only", in: withID(`"not_after":"2026-11-26"`), field: "not_after"},
	{name: "not_after hour 24", in: withID(`"not_after":"2026-11-26T24:00:00Z"`), field: "not_after"},
	{name: "not_after leap second at noon", in: withID(`"not_after":"2016-12-31T12:00:60Z"`), field: "not_after"},
	{name: "not_after offset 24:00", in: withID(`"not_after":"2026-11-26T10:00:00+24:00"`), field: "not_after"},
	{name: "not_after empty fraction", in: withID(`"not_after":"2026-11-26T10:00:00.Z"`), field: "not_after"},
	{name: "not_after signed hour", in: withID(`"not_after":"2026-11-26T+1:00:00Z"`), field: "not_after"},
	{name: "not_after unix time", in: withID(`"not_after":1764151200`), field: "not_after"},
	{name: "reply_to empty", in: withID(`"reply_to":""`), field: "reply_to"},
	{name: "reply_to empty token", in: withID(`"reply_to":"a..b"`), field: "reply_to"},
	{name: "reply_to leading dot", in: withID(`"reply_to":".a"`), field: "reply_to"},
	{name: "reply_to trailing dot", in: withID(`"reply_to":"a."`), field: "reply_to"},
	{name: "reply_to star", in: withID(`"reply_to":"a.*"`), field: "reply_to"},
	{name: "reply_to greater-than", in: withID(`"reply_to":"a.>"`), field: "reply_to"},
	{name: "reply_to with space", in: withID(`"reply_to":"a b"`), field: "reply_to"},
	{name: "reply_to with tab", in: withID(`"reply_to":"a\tb"`), field: "reply_to"},
	{name: "reply_to of 256 characters", in: withID(`"reply_to":"` + strings.Repeat("a.", 127) + `ab"`), field: "reply_to"},
	{name: "trace_id uppercase", in: withID(`"trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736"`), field: "trace_id"},
	{name: "trace_id all zero", in: withID(`"trace_id":"00000000000000000000000000000000"`), field: "trace_id"},
	{name: "trace_id of 31 characters", in: withID(`"trace_id":"4bf92f3577b34da6a3ce929d0e0e473"`), field: "trace_id"},
}

// TestDecodeJob holds DecodeJob's verdict on every case, its error's shape,
// and its agreement with job.v1.schema.json.
func TestDecodeJob(t *testing.T) {
	if len(decodeCases) < 30 {
		t.Fatalf("only %d cases", len(decodeCases))
	}
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			job, err := DecodeJob([]byte(tc.in))
			schemaErr := Validate(JobSchema, []byte(tc.in))
			if tc.ok {
				if err != nil {
					t.Fatalf("DecodeJob: %v", err)
				}
				if job == nil {
					t.Fatal("DecodeJob returned a nil job and no error")
				}
				if schemaErr != nil {
					t.Fatalf("DecodeJob accepts but the schema rejects: %v", schemaErr)
				}
				checkRoundTrip(t, job)
				return
			}
			if err == nil {
				t.Fatalf("DecodeJob accepted %q", tc.in)
			}
			if job != nil {
				t.Error("DecodeJob returned a job with its error")
			}
			if !errors.Is(err, ErrInvalidJob) {
				t.Errorf("errors.Is(%v, ErrInvalidJob) = false", err)
			}
			var je *JobError
			if !errors.As(err, &je) {
				t.Fatalf("error %T is not a *JobError", err)
			}
			if je.Field != tc.field {
				t.Errorf("Field = %q, want %q (error %v)", je.Field, tc.field, err)
			}
			if !strings.HasPrefix(err.Error(), "invalid job: ") {
				t.Errorf("Error() = %q, want the prefix %q", err, "invalid job: ")
			}
			if schemaErr == nil {
				t.Fatalf("DecodeJob rejects (%v) but the schema accepts", err)
			}
			if !errors.Is(schemaErr, ErrSchemaViolation) {
				t.Errorf("schema error %v is not ErrSchemaViolation", schemaErr)
			}
		})
	}
}

// checkRoundTrip checks that a decoded job marshals to a valid job that
// decodes to the same job again.
func checkRoundTrip(t testing.TB, job *Job) {
	t.Helper()
	out, err := json.Marshal(job)
	if err != nil {
		t.Fatalf("marshal decoded job: %v", err)
	}
	if err := Validate(JobSchema, out); err != nil {
		t.Fatalf("marshalled job %s does not validate: %v", out, err)
	}
	again, err := DecodeJob(out)
	if err != nil {
		t.Fatalf("marshalled job %s does not decode: %v", out, err)
	}
	if again.ID != job.ID || again.Path != job.Path || again.ReplyTo != job.ReplyTo ||
		again.TimeoutMS != job.TimeoutMS || !maps.Equal(again.Headers, job.Headers) ||
		(again.NotAfter == nil) != (job.NotAfter == nil) ||
		(job.NotAfter != nil && !again.NotAfter.Equal(*job.NotAfter)) {
		t.Fatalf("round trip changed the job: %+v became %+v", job, again)
	}
}

// TestDecodeJobValues checks the values DecodeJob fills in.
func TestDecodeJobValues(t *testing.T) {
	job, err := DecodeJob([]byte(contractJob))
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	want := &Job{
		ID: "ord-1001", Target: "payments", Method: "POST", Path: "/v1/charges?src=queue",
		Headers:   map[string]string{"Content-Type": "application/json"},
		Body:      json.RawMessage(`{"amount": 100}`),
		TimeoutMS: 5000, MaxAttempts: 3, NotAfter: &notAfter, ReplyTo: "app.results.orders",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Meta: json.RawMessage(`{"order": 1001}`),
	}
	if !reflect.DeepEqual(job, want) {
		t.Fatalf("DecodeJob(contract example) =\n%+v\nwant\n%+v", job, want)
	}

	tests := []struct {
		name  string
		in    string
		check func(*Job) bool
	}{
		{"decimal integer", withID(`"timeout_ms":5e3,"max_attempts":300e-2`), func(j *Job) bool { return j.TimeoutMS == 5000 && j.MaxAttempts == 3 }},
		{"null body and meta are absent", withID(`"body":null,"meta":null`), func(j *Job) bool { return j.Body == nil && j.Meta == nil }},
		{"last duplicate wins", `{"id":"a","id":"b","headers":{"X":"1"},"headers":{"Y":"2"}}`, func(j *Job) bool {
			return j.ID == "b" && reflect.DeepEqual(j.Headers, map[string]string{"Y": "2"})
		}},
		{"escaped strings", `{"id":"\u0061","path":"/\u00e9\ud83d\ude00"}`, func(j *Job) bool { return j.ID == "a" && j.Path == "/é😀" }},
		{"offset kept", withID(`"not_after":"2026-11-26T10:00:00.5-02:30"`), func(j *Job) bool {
			_, off := j.NotAfter.Zone()
			return off == -150*60 && j.NotAfter.Equal(time.Date(2026, 11, 26, 12, 30, 0, 5e8, time.UTC))
		}},
		{"leap second is the next minute", withID(`"not_after":"2016-12-31T23:59:60Z"`), func(j *Job) bool {
			return j.NotAfter.Equal(time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"body kept verbatim", withID(`"body": [1, 2 ,3] `), func(j *Job) bool { return string(j.Body) == `[1, 2 ,3]` }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := DecodeJob([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(j) {
				t.Fatalf("unexpected job %+v", j)
			}
		})
	}
}

// TestDecodeJobDoesNotAliasInput checks that the job keeps no reference to
// the payload, which the caller may reuse.
func TestDecodeJobDoesNotAliasInput(t *testing.T) {
	data := []byte(withID(`"body":{"a":1},"meta":[2]`))
	job, err := DecodeJob(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'x'
	}
	if string(job.Body) != `{"a":1}` || string(job.Meta) != `[2]` {
		t.Fatalf("job changed with its input: body %s meta %s", job.Body, job.Meta)
	}
}

// TestJobErrorMessages checks the text of typical errors.
func TestJobErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"field", withID(`"path":"v1"`), `invalid job: field "path": must start with "/"`},
		{"unknown field", withID(`"colour":"red"`), `invalid job: unknown field "colour"`},
		{"required", `{}`, `invalid job: field "id": is required`},
		{"not JSON", `{"id"`, `invalid job: not JSON: unexpected end of JSON input`},
		{"not an object", `[]`, `invalid job: not a JSON object`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeJob([]byte(tc.in))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %s", err, tc.want)
			}
		})
	}
}

// FuzzDecodeJobAgreesWithSchema holds DecodeJob to job.v1.schema.json: a
// payload is accepted by one iff it is accepted by the other, and an
// accepted job survives a round trip.
func FuzzDecodeJobAgreesWithSchema(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.in))
	}
	for _, s := range []string{
		`{"id":"a","timeout_ms":0.00000000000000000001e20}`,
		`{"id":"a","timeout_ms":-0}`,
		`{"id":"a","timeout_ms":0e99999999999999999999}`,
		`{"id":"a","max_attempts":1.000000000000000000000000000000000001}`,
		`{"id":"a","max_attempts":100.0e0}`,
		`{"id":"a","headers":{"\u0041":"x"}}`,
		`{"id":"a","not_after":"0000-02-29T00:00:00Z"}`,
		`{"id":"a","not_after":"1900-02-29T00:00:00Z"}`,
		`{"id":"a","not_after":"2016-12-31T23:59:60.999-00:00"}`,
		"{\"id\":\"\xff\"}",
		"{\"id\":\"a\",\"path\":\"/\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		job, err := DecodeJob(data)
		schemaErr := Validate(JobSchema, data)
		switch {
		case err == nil && schemaErr != nil:
			t.Fatalf("DecodeJob accepts %q but the schema rejects it: %v", data, schemaErr)
		case err != nil && schemaErr == nil:
			t.Fatalf("DecodeJob rejects %q (%v) but the schema accepts it", data, err)
		case err != nil:
			var je *JobError
			if !errors.As(err, &je) || !errors.Is(err, ErrInvalidJob) {
				t.Fatalf("error %v (%T) is not a *JobError", err, err)
			}
		default:
			checkRoundTrip(t, job)
		}
	})
}

// typicalJob is a job of about 300 bytes.
const typicalJob = `{"id":"ord-1001","target":"payments","method":"POST","path":"/v1/charges?src=queue",` +
	`"headers":{"Content-Type":"application/json"},` +
	`"body":{"amount":100},"timeout_ms":5000,"max_attempts":3,` +
	`"not_after":"2026-11-26T10:00:00Z","reply_to":"app.results.orders",` +
	`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","meta":{"order":1001}}`

// BenchmarkDecodeJob measures the hot-path decoder on a typical job.
func BenchmarkDecodeJob(b *testing.B) {
	data := []byte(typicalJob)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeJob(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateJobSchema measures generic schema validation of the same
// job, for comparison with BenchmarkDecodeJob.
func BenchmarkValidateJobSchema(b *testing.B) {
	data := []byte(typicalJob)
	if _, err := Compiled(JobSchema); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(JobSchema, data); err != nil {
			b.Fatal(err)
		}
	}
}
