package config

import "testing"

func TestSuggest(t *testing.T) {
	known := map[string]int{"retry": 0, "breaker": 0, "timeouts": 0, "max_attempts": 0}
	tests := []struct {
		name, key, want string
	}{
		{"extra letter", "retrys", ` (did you mean "retry"?)`},
		{"swapped letters", "braeker", ` (did you mean "breaker"?)`},
		{"case", "MAX_ATTEMPTS", ` (did you mean "max_attempts"?)`},
		{"nothing close", "colour", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggest(tt.key, known); got != tt.want {
				t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}
