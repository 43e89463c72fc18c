package schemas_test

import (
	"errors"
	"fmt"

	"github.com/jetdispatch/dispatcher/schemas"
)

// DecodeJob is how a worker reads a job from the jobs stream.
func ExampleDecodeJob() {
	job, err := schemas.DecodeJob([]byte(`{"id":"ord-1001","path":"/v1/charges","body":{"amount":100},"timeout_ms":5e3}`))
	if err != nil {
		panic(err)
	}
	body, _ := job.BodyBytes()
	fmt.Println(job.ID, job.EffectiveMethod(), job.EffectivePath(), job.TimeoutMS, string(body))

	_, err = schemas.DecodeJob([]byte(`{"id":"ord-1002","path":"v1/charges"}`))
	var jobErr *schemas.JobError
	if errors.As(err, &jobErr) {
		fmt.Println(errors.Is(err, schemas.ErrInvalidJob), jobErr.Field)
		fmt.Println(err)
	}
	// Output:
	// ord-1001 POST /v1/charges 5000 {"amount":100}
	// true path
	// invalid job: field "path": must start with "/"
}

// Validate checks any record against its schema, e.g. in a test.
func ExampleValidate() {
	err := schemas.Validate(schemas.ResultSchema, []byte(`{"job_id":"a","target":"t","outcome":"lost"}`))
	fmt.Println(errors.Is(err, schemas.ErrSchemaViolation))
	// Output:
	// true
}

// DisplayEndpoint is how an endpoint is shown in metrics, logs, records and
// the CLI; the call goes to the URL as configured.
func ExampleDisplayEndpoint() {
	fmt.Println(schemas.DisplayEndpoint("https://pay.example.com/v1"))
	fmt.Println(schemas.DisplayEndpoint("https://hooks.example.com/in?token=s3cr3t"))
	fmt.Println(schemas.DisplayEndpoint("https://user:pass@[::1]:8443/hook"))
	// Output:
	// https://pay.example.com/v1
	// https://hooks.example.com/in?REDACTED#c78b34ff
	// https://REDACTED@[::1]:8443/hook#dec4b36e
}
