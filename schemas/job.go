package schemas

import (
	"encoding/base64"
	"net/http"
)

// EffectiveMethod returns the job's method, POST when it has none.
func (j *Job) EffectiveMethod() string {
	if j.Method == "" {
		return http.MethodPost
	}
	return j.Method
}

// EffectivePath returns the job's path, "/" when it has none.
func (j *Job) EffectivePath() string {
	if j.Path == "" {
		return "/"
	}
	return j.Path
}

// HasJSONBody reports whether the job carries a JSON body (body given and
// not null), to be sent as JSON.
func (j *Job) HasJSONBody() bool {
	return len(j.Body) > 0 && string(j.Body) != "null"
}

// BodyBytes returns the bytes to send as the request body: body_base64
// decoded when given, else the JSON body as is, else nil for no body. The
// error, a *JobError, only occurs for a job not made by DecodeJob whose
// body_base64 is not valid standard base64.
func (j *Job) BodyBytes() ([]byte, error) {
	if j.BodyBase64 != "" {
		b, err := base64.StdEncoding.DecodeString(j.BodyBase64)
		if err != nil {
			return nil, &JobError{Field: fieldNames[fieldBodyBase64], Reason: reasonBase64}
		}
		return b, nil
	}
	if j.HasJSONBody() {
		return j.Body, nil
	}
	return nil, nil
}
