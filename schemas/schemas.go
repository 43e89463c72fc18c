package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Names of the embedded schemas, as accepted by Compiled, Validate and Source.
const (
	JobSchema        = "job.v1.schema.json"
	DeadLetterSchema = "deadletter.v1.schema.json"
	FallbackSchema   = "fallback.v1.schema.json"
	ResultSchema     = "result.v1.schema.json"
	AuditSchema      = "audit.v1.schema.json"
)

// BaseURL is the common prefix of the schemas' $id: a schema's $id is
// BaseURL followed by its name.
const BaseURL = "https://jetdispatch.dev/schemas/"

// names lists every embedded schema.
var names = []string{JobSchema, DeadLetterSchema, FallbackSchema, ResultSchema, AuditSchema}

// Names returns the names of every embedded schema.
func Names() []string { return slices.Clone(names) }

//go:embed job.v1.schema.json deadletter.v1.schema.json fallback.v1.schema.json result.v1.schema.json audit.v1.schema.json
var files embed.FS

// ErrUnknownSchema is returned (wrapped) for a name that is not one of Names().
var ErrUnknownSchema = errors.New("schemas: unknown schema")

// ErrSchemaViolation is the sentinel of every *SchemaError: the document is
// not JSON or does not match the schema.
var ErrSchemaViolation = errors.New("schemas: document does not match schema")

// SchemaError reports a document that Validate rejected. Err is the cause:
// a JSON syntax error or a *jsonschema.ValidationError that lists every
// violation. errors.Is(err, ErrSchemaViolation) holds for a *SchemaError.
type SchemaError struct {
	// Schema is the name of the schema the document was checked against.
	Schema string
	// Err is the cause.
	Err error
}

// Error reports the schema and the cause.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s: %s: %v", ErrSchemaViolation, e.Schema, e.Err)
}

// Is reports whether target is ErrSchemaViolation.
func (e *SchemaError) Is(target error) bool { return target == ErrSchemaViolation }

// Unwrap returns the cause.
func (e *SchemaError) Unwrap() error { return e.Err }

// compiled holds one lazily compiled schema per name. Each entry compiles at
// most once, on first use, and is safe for concurrent use.
var compiled = func() map[string]func() (*jsonschema.Schema, error) {
	m := make(map[string]func() (*jsonschema.Schema, error), len(names))
	for _, name := range names {
		m[name] = sync.OnceValues(func() (*jsonschema.Schema, error) { return compile(name) })
	}
	return m
}()

// Source returns the text of the embedded schema called name.
func Source(name string) ([]byte, error) {
	if _, ok := compiled[name]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSchema, name)
	}
	return files.ReadFile(name)
}

// Compiled returns the embedded schema called name (one of Names()), compiled
// with format assertions on so that "format": "date-time" is enforced. The
// schema is compiled once, on first use; the result is shared and safe for
// concurrent use.
func Compiled(name string) (*jsonschema.Schema, error) {
	get, ok := compiled[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSchema, name)
	}
	return get()
}

// Validate checks that data is one JSON value that matches the schema called
// name. It returns nil when it does, a *SchemaError (errors.Is
// ErrSchemaViolation) when it does not, and an error wrapping
// ErrUnknownSchema for an unknown name. For jobs on the hot path use
// DecodeJob, which enforces the same rules as JobSchema far more cheaply.
func Validate(name string, data []byte) error {
	sch, err := Compiled(name)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &SchemaError{Schema: name, Err: fmt.Errorf("not JSON: %w", err)}
	}
	if err := sch.Validate(doc); err != nil {
		return &SchemaError{Schema: name, Err: err}
	}
	return nil
}

// compile compiles one embedded schema on its own compiler.
func compile(name string) (*jsonschema.Schema, error) {
	src, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("schemas: read %s: %w", name, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("schemas: parse %s: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	url := BaseURL + name
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("schemas: add %s: %w", name, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schemas: compile %s: %w", name, err)
	}
	return sch, nil
}
