package deadletter_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in   string
		want deadletter.StatusRange
		ok   bool
	}{
		{"503", deadletter.StatusRange{503, 503}, true},
		{"5xx", deadletter.StatusRange{500, 599}, true},
		{"4XX", deadletter.StatusRange{400, 499}, true},
		{"none", deadletter.StatusRange{}, true},
		{"0", deadletter.StatusRange{}, true},
		{"6xx", deadletter.StatusRange{}, false},
		{"99", deadletter.StatusRange{}, false},
		{"abc", deadletter.StatusRange{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := deadletter.ParseStatus(tt.in)
			if !tt.ok {
				if !errors.Is(err, deadletter.ErrInvalidFilter) {
					t.Fatalf("error %v, want ErrInvalidFilter", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			if back, _ := deadletter.ParseStatus(got.String()); back != got {
				t.Errorf("String %q does not read back", got.String())
			}
		})
	}
}

func TestFilterValidate(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		f    deadletter.Filter
		ok   bool
	}{
		{"zero", deadletter.Filter{}, true},
		{"target", deadletter.Filter{Targets: []string{"pay-ments_1"}}, true},
		{"target with dot", deadletter.Filter{Targets: []string{"a.b"}}, false},
		{"target wildcard", deadletter.Filter{Targets: []string{"*"}}, false},
		{"since after until", deadletter.Filter{Since: now, Until: now.Add(-time.Second)}, false},
		{"negative limit", deadletter.Filter{Limit: -1}, false},
		{"seq 0", deadletter.Filter{Seqs: []uint64{0}}, false},
		{"inverted status", deadletter.Filter{Statuses: []deadletter.StatusRange{{500, 400}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, deadletter.ErrInvalidFilter)) {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	if !(&deadletter.Filter{}).IsZero() || (&deadletter.Filter{Limit: 1}).IsZero() {
		t.Error("IsZero")
	}
}
