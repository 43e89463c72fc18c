package deadletter

import (
	"encoding/json"
	"testing"

	"github.com/jetdispatch/dispatcher/schemas"
)

func TestSummary(t *testing.T) {
	tests := []struct {
		name string
		data string
		want Summary
	}{
		{"record", `{"job":{"id":"a","body":{"last_status":999,"x":"}\"{"}},"raw":null,"error":"503 \"quoted\" \u00e9","last_status":503,"attempts":5,"history":[{"status":1}]}`,
			Summary{5, 503, `503 "quoted" é`}},
		{"spaces", "{ \"attempts\" : 2 ,\n\"last_status\":0 , \"error\" : \"\" }", Summary{2, 0, ""}},
		{"empty object", `{}`, Summary{}},
		{"float falls back", `{"attempts":2.0}`, Summary{}},
		{"not an object", `[1,2]`, Summary{}},
		{"broken", `{"attempts":`, Summary{}},
		{"meta after", `{"attempts":1,"meta":{"error":"no"},"error":"yes"}`, Summary{1, 0, "yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Record{Data: []byte(tt.data)}
			if got := r.Summary(); got != tt.want {
				t.Errorf("Summary %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzSummary checks the one-pass Summary against encoding/json on records
// as json.Marshal writes them, with any strings in the job, error and meta.
func FuzzSummary(f *testing.F) {
	f.Add(`{"a":"}"}`, "503 x", `"m"`, 503, 3)
	f.Add(`"\\\"`, "\"]}", `{"x":[1,{"y":"\""}]}`, 0, 0)
	f.Fuzz(func(t *testing.T, body, errText, meta string, status, attempts int) {
		job, _ := json.Marshal(map[string]any{"id": "x", "body": body, "last_status": status + 1})
		rec := schemas.DeadLetter{Job: job, Error: errText, LastStatus: status, Attempts: attempts}
		if json.Valid([]byte(meta)) {
			rec.Meta = json.RawMessage(meta)
		}
		data, err := json.Marshal(&rec)
		if err != nil {
			return
		}
		var want Summary
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if got := (&Record{Data: data}).Summary(); got != want {
			t.Fatalf("Summary %+v, encoding/json %+v\n%s", got, want, data)
		}
	})
}
