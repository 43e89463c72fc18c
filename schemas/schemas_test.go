package schemas

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestSchemasCompile checks that every embedded schema compiles once, names
// itself, and that unknown names are refused.
func TestSchemasCompile(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			sch, err := Compiled(name)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Compiled(name)
			if err != nil || again != sch {
				t.Fatalf("second Compiled = %p, %v; want the same schema %p", again, err, sch)
			}
			doc := schemaDoc(t, name)
			if doc["$id"] != BaseURL+name {
				t.Errorf("$id = %v, want %s", doc["$id"], BaseURL+name)
			}
			if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$schema = %v, want draft 2020-12", doc["$schema"])
			}
			if title, _ := doc["title"].(string); title == "" {
				t.Error("no title")
			}
			for prop, v := range doc["properties"].(map[string]any) {
				if d, _ := v.(map[string]any)["description"].(string); d == "" {
					t.Errorf("property %q has no description", prop)
				}
			}
		})
	}
	for _, name := range []string{"", "job", "job.v2.schema.json"} {
		if _, err := Compiled(name); !errors.Is(err, ErrUnknownSchema) {
			t.Errorf("Compiled(%q) error = %v, want ErrUnknownSchema", name, err)
		}
		if err := Validate(name, []byte(`{}`)); !errors.Is(err, ErrUnknownSchema) {
			t.Errorf("Validate(%q) error = %v, want ErrUnknownSchema", name, err)
		}
	}
}

// TestValidateConcurrently validates from many goroutines at once, so the
// race detector sees the lazy compilation.
func TestValidateConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			errs <- Validate(JobSchema, []byte(contractJob))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestValidateErrors checks the errors of Validate.
func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name       string
		schema     string
		in         string
		validation bool // whether the cause is a *jsonschema.ValidationError
	}{
		{"not JSON", JobSchema, `{"id":`, false},
		{"two values", ResultSchema, `{} {}`, false},
		{"schema violation", JobSchema, `{"id":""}`, true},
		{"missing fields", DeadLetterSchema, `{}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.schema, []byte(tc.in))
			if !errors.Is(err, ErrSchemaViolation) {
				t.Fatalf("error = %v, want ErrSchemaViolation", err)
			}
			var se *SchemaError
			if !errors.As(err, &se) || se.Schema != tc.schema {
				t.Fatalf("error %v is not a *SchemaError for %s", err, tc.schema)
			}
			var ve *jsonschema.ValidationError
			if got := errors.As(err, &ve); got != tc.validation {
				t.Errorf("errors.As(*jsonschema.ValidationError) = %v, want %v", got, tc.validation)
			}
		})
	}
}

// Sample values of the Go types.
var (
	at0      = time.Date(2026, 11, 26, 9, 0, 0, 123e6, time.UTC)
	at1      = at0.Add(31 * time.Second)
	notAfter = time.Date(2026, 11, 26, 10, 0, 0, 0, time.FixedZone("", 3600))
	traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	history  = []Attempt{
		{Attempt: 1, At: at0, Endpoint: "https://pay.example.com", Status: 503, ErrorClass: "http_5xx", Error: "503 Service Unavailable", DurationMS: 12.5},
		{Attempt: 2, At: at0.Add(time.Second), Endpoint: "https://pay2.example.com", Status: 0, ErrorClass: "timeout_connect", Error: "dial timeout", DurationMS: 3000},
		{Attempt: 3, At: at0.Add(2 * time.Second), Endpoint: "https://pay.example.com", Status: 200, DurationMS: 0},
	}
)

// TestGoValuesValidate checks that values of the Go types marshal to JSON
// their schema accepts, and that the schemas refuse what they should.
func TestGoValuesValidate(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		value  any
		ok     bool
	}{
		{"full job", JobSchema, &Job{
			ID: "ord-1001", Target: "payments", Method: "PUT", Path: "/v1/charges?src=queue",
			Headers: map[string]string{"Content-Type": "application/json", "Authorization": "[REDACTED]"},
			Body:    json.RawMessage(`{"amount":100}`), TimeoutMS: 5000, MaxAttempts: 3, NotAfter: &notAfter,
			ReplyTo: "app.results.orders", TraceID: traceID, Meta: json.RawMessage(`{"order":1001}`),
		}, true},
		{"job with base64 body", JobSchema, Job{ID: "a", BodyBase64: "aGk="}, true},
		{"minimal job", JobSchema, Job{ID: "a"}, true},
		{"zero job", JobSchema, Job{}, false},

		{"full dead letter", DeadLetterSchema, &DeadLetter{
			Job:    json.RawMessage(`{"id":"ord-1001","target":"payments","path":"/v1/charges"}`),
			Target: "payments", Reason: ReasonExhausted, ErrorClass: "http_5xx", Error: "503 Service Unavailable",
			LastStatus: 503, Attempts: 3, History: history, FirstAttemptAt: &at0, DeadAt: at1,
			TraceID: traceID, ServiceName: "dispatcher", Instance: "host-a/4121", Meta: json.RawMessage(`{"order":1001}`),
		}, true},
		{"dead letter of raw bytes", DeadLetterSchema, DeadLetter{
			Raw: []byte("not json \x00\xff"), Target: "payments", Reason: ReasonInvalid, ErrorClass: "invalid_job",
			Error: "invalid job: not JSON", DeadAt: at1, ServiceName: "dispatcher", Instance: "host-a/4121",
		}, true},
		{"minimal dead letter, nil history", DeadLetterSchema, DeadLetter{
			Target: "payments", Reason: ReasonUnknownTarget, DeadAt: at1, ServiceName: "d", Instance: "i",
		}, true},
		{"dead letter with fallback reason", DeadLetterSchema, DeadLetter{
			Target: "payments", Reason: ReasonCircuitOpen, DeadAt: at1, ServiceName: "d", Instance: "i",
		}, false},
		{"dead letter with unknown error class", DeadLetterSchema, DeadLetter{
			Target: "payments", Reason: ReasonExpired, ErrorClass: "oops", DeadAt: at1, ServiceName: "d", Instance: "i",
		}, false},
		{"dead letter with bad trace id", DeadLetterSchema, DeadLetter{
			Target: "payments", Reason: ReasonExpired, TraceID: "x", DeadAt: at1, ServiceName: "d", Instance: "i",
		}, false},

		{"full fallback", FallbackSchema, &Fallback{
			Job: json.RawMessage(`{"id":"ord-1001"}`), Target: "payments", Reason: ReasonCircuitOpen,
			Endpoint: "https://pay.example.com", BreakerState: "half_open", Attempts: 2, At: at1,
			TraceID: traceID, ServiceName: "dispatcher", Instance: "host-a/4121", Meta: json.RawMessage(`[1]`),
		}, true},
		{"minimal fallback", FallbackSchema, Fallback{
			Job: json.RawMessage(`{"id":"a"}`), Target: "t", Reason: ReasonCircuitOpen, BreakerState: "open",
			At: at1, ServiceName: "d", Instance: "i",
		}, true},
		{"fallback with another reason", FallbackSchema, Fallback{
			Target: "t", Reason: ReasonExhausted, BreakerState: "open", At: at1, ServiceName: "d", Instance: "i",
		}, false},

		{"full fallback result", ResultSchema, &Result{
			JobID: "ord-1001", Target: "payments", Outcome: OutcomeFallback, Status: 202, Attempts: 2,
			DurationMS: 31.2, Body: "", ErrorClass: "circuit_open", Error: "circuit breaker open",
			Fallback: &FallbackResponse{Status: 202, Body: json.RawMessage(`{"queued":true}`)},
			TraceID:  traceID, Meta: json.RawMessage(`{"order":1001}`),
		}, true},
		{"delivered result", ResultSchema, Result{
			JobID: "a", Target: "t", Outcome: OutcomeDelivered, Status: 200, Attempts: 1, DurationMS: 1.5,
			Body: `{"ok":true}`, TraceID: traceID,
		}, true},
		{"minimal result", ResultSchema, Result{JobID: "a", Target: "t", Outcome: OutcomeDeadLettered}, true},
		{"fallback result without fallback", ResultSchema, Result{JobID: "a", Target: "t", Outcome: OutcomeFallback}, false},
		{"delivered result with fallback", ResultSchema, Result{
			JobID: "a", Target: "t", Outcome: OutcomeDelivered, Fallback: &FallbackResponse{Status: 202},
		}, false},
		{"result with unknown outcome", ResultSchema, Result{JobID: "a", Target: "t", Outcome: "lost"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			err = Validate(tc.schema, data)
			if tc.ok && err != nil {
				t.Fatalf("%s does not validate: %v", data, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("%s validates, want a violation", data)
			}
		})
	}
}

// TestDeadLetterHistoryIsArray checks that a nil History is written as [].
func TestDeadLetterHistoryIsArray(t *testing.T) {
	for _, v := range []any{DeadLetter{}, &DeadLetter{}} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `"history":[]`) {
			t.Fatalf("%T marshals to %s, want an empty history array", v, data)
		}
	}
}

// TestSchemaPropertiesMatchGoTags holds the schemas' property names, and
// their required lists, to the JSON tags of the Go types, so that neither
// can change without the other.
func TestSchemaPropertiesMatchGoTags(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		path   []string // keys leading from the schema's root to the object schema
		typ    reflect.Type
	}{
		{"Job", JobSchema, nil, reflect.TypeFor[Job]()},
		{"DeadLetter", DeadLetterSchema, nil, reflect.TypeFor[DeadLetter]()},
		{"Attempt", DeadLetterSchema, []string{"$defs", "attempt"}, reflect.TypeFor[Attempt]()},
		{"Fallback", FallbackSchema, nil, reflect.TypeFor[Fallback]()},
		{"Result", ResultSchema, nil, reflect.TypeFor[Result]()},
		{"FallbackResponse", ResultSchema, []string{"properties", "fallback"}, reflect.TypeFor[FallbackResponse]()},
		{"AuditRecord", AuditSchema, nil, reflect.TypeFor[AuditRecord]()},
		{"AuditSelection", AuditSchema, []string{"properties", "selection"}, reflect.TypeFor[AuditSelection]()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := schemaDoc(t, tc.schema)
			for _, key := range tc.path {
				obj = obj[key].(map[string]any)
			}
			if obj["additionalProperties"] != false {
				t.Error("additionalProperties is not false")
			}
			props := slices.Sorted(maps.Keys(obj["properties"].(map[string]any)))
			var required []string
			for _, r := range obj["required"].([]any) {
				required = append(required, r.(string))
			}
			slices.Sort(required)

			var tags, always []string
			for f := range tc.typ.Fields() {
				name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "" || name == "-" {
					t.Fatalf("field %s has no JSON name", f.Name)
				}
				tags = append(tags, name)
				if !slices.Contains(strings.Split(opts, ","), "omitempty") {
					always = append(always, name)
				}
			}
			slices.Sort(tags)
			slices.Sort(always)
			if !slices.Equal(props, tags) {
				t.Errorf("schema properties %v != Go JSON tags %v", props, tags)
			}
			if !slices.Equal(required, always) {
				t.Errorf("schema required %v != Go fields without omitempty %v", required, always)
			}
		})
	}
}

// schemaDoc returns the embedded schema called name as a generic document.
func schemaDoc(t *testing.T, name string) map[string]any {
	t.Helper()
	src, err := Source(name)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}
