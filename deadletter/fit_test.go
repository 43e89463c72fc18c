package deadletter

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/schemas"
)

func TestFitDeadLetter(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 300_000)
	hist := make([]schemas.Attempt, 10)
	for i := range hist {
		hist[i] = schemas.Attempt{Attempt: i + 1, At: time.Now(), Error: strings.Repeat("e", 500)}
	}
	bodyJob, _ := json.Marshal(map[string]any{"id": "j1", "path": "/x", "body": string(big)})
	cases := []struct {
		name      string
		rec       schemas.DeadLetter
		limit     int
		wantError string // appended to the record's error; "" = unchanged
		check     func(t *testing.T, got schemas.DeadLetter)
	}{
		{"small record untouched", schemas.DeadLetter{Job: json.RawMessage(`{"id":"a"}`), History: hist}, 1 << 20, "", func(t *testing.T, got schemas.DeadLetter) {
			if len(got.History) != 10 {
				t.Errorf("history cut to %d", len(got.History))
			}
		}},
		{"raw cut", schemas.DeadLetter{Raw: big, History: hist}, 200_000, "raw cut to", func(t *testing.T, got schemas.DeadLetter) {
			if len(got.Raw) == 0 || len(got.Raw) >= len(big) || !bytes.Equal(got.Raw, big[:len(got.Raw)]) {
				t.Errorf("raw is %d bytes, want a prefix of the original", len(got.Raw))
			}
			if len(got.History) != 1 {
				t.Errorf("history has %d entries, want the last one", len(got.History))
			}
		}},
		{"job body dropped", schemas.DeadLetter{Job: bodyJob, History: hist}, 200_000, "job body", func(t *testing.T, got schemas.DeadLetter) {
			var job map[string]any
			if err := json.Unmarshal(got.Job, &job); err != nil || job["id"] != "j1" || job["body"] != nil {
				t.Errorf("job %s, want id kept and body dropped", got.Job)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, _, err := fitDeadLetter(&c.rec, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > c.limit-headroom {
				t.Fatalf("record is %d bytes, over %d", len(data), c.limit-headroom)
			}
			var got schemas.DeadLetter
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if c.wantError == "" && got.Error != c.rec.Error || c.wantError != "" && !strings.Contains(got.Error, c.wantError) {
				t.Errorf("error %q, want it to mention %q", got.Error, c.wantError)
			}
			c.check(t, got)
		})
	}
}
