package config

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorFormatAndMatching(t *testing.T) {
	err := error(&Error{Errors: []FieldError{
		{Path: "targets.a.retry.max_attempts", Msg: "must be at least 1"},
		{Msg: "invalid YAML: line 1: oops"},
	}})
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"one line per problem", err.Error(), "targets.a.retry.max_attempts: must be at least 1\ninvalid YAML: line 1: oops"},
		{"is ErrInvalidConfig", errors.Is(err, ErrInvalidConfig), true},
		{"wrapped is ErrInvalidConfig", errors.Is(fmt.Errorf("serve: %w", err), ErrInvalidConfig), true},
		{"is not ErrConfigFile", errors.Is(err, ErrConfigFile), false},
		{"field error text", FieldError{Path: "p", Msg: "m"}.Error(), "p: m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	t.Run("as", func(t *testing.T) {
		var cerr *Error
		if !errors.As(fmt.Errorf("wrapped: %w", err), &cerr) || len(cerr.Errors) != 2 {
			t.Errorf("errors.As did not find the *Error with its 2 problems")
		}
	})
}
