package schemas

import (
	"encoding/json"
	"errors"
	"testing"
)

// TestJobAccessors checks the defaults and body accessors of a job.
func TestJobAccessors(t *testing.T) {
	tests := []struct {
		name     string
		job      Job
		method   string
		path     string
		hasJSON  bool
		body     string // BodyBytes as text; "<nil>" for nil
		badBytes bool   // BodyBytes fails with ErrInvalidJob
	}{
		{name: "defaults", job: Job{ID: "a"}, method: "POST", path: "/", body: "<nil>"},
		{name: "set method and path", job: Job{Method: "GET", Path: "/x?y=1"}, method: "GET", path: "/x?y=1", body: "<nil>"},
		{name: "JSON body", job: Job{Body: json.RawMessage(`{"a":1}`)}, method: "POST", path: "/", hasJSON: true, body: `{"a":1}`},
		{name: "null body", job: Job{Body: json.RawMessage(`null`)}, method: "POST", path: "/", body: "<nil>"},
		{name: "base64 body", job: Job{BodyBase64: "aGVsbG8="}, method: "POST", path: "/", body: "hello"},
		{name: "bad base64 body", job: Job{BodyBase64: "!!"}, method: "POST", path: "/", badBytes: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.job.EffectiveMethod(); got != tc.method {
				t.Errorf("EffectiveMethod() = %q, want %q", got, tc.method)
			}
			if got := tc.job.EffectivePath(); got != tc.path {
				t.Errorf("EffectivePath() = %q, want %q", got, tc.path)
			}
			if got := tc.job.HasJSONBody(); got != tc.hasJSON {
				t.Errorf("HasJSONBody() = %v, want %v", got, tc.hasJSON)
			}
			b, err := tc.job.BodyBytes()
			if tc.badBytes {
				if !errors.Is(err, ErrInvalidJob) {
					t.Fatalf("BodyBytes() error = %v, want ErrInvalidJob", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if b == nil {
				got = "<nil>"
			}
			if got != tc.body {
				t.Errorf("BodyBytes() = %q, want %q", got, tc.body)
			}
		})
	}
}
