package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// validTarget is the smallest valid targets section.
const validTarget = "targets:\n  a:\n    endpoints: [\"https://a.example.com\"]\n"

// withTop returns a file made of top-level YAML and a valid target.
func withTop(top string) string {
	return top + "\n" + validTarget
}

// withTarget returns a file with one target "a" whose extra keys, written
// at column 0, are added after its endpoints.
func withTarget(extra string) string {
	var b strings.Builder
	b.WriteString(validTarget)
	for _, line := range strings.Split(strings.TrimRight(extra, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}

// env returns a lookup function over vars.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// mustParse parses a file that must be valid.
func mustParse(t *testing.T, yaml string, lookupEnv func(string) (string, bool)) *Config {
	t.Helper()
	cfg, err := Parse([]byte(yaml), lookupEnv)
	if err != nil {
		t.Fatalf("Parse: %v\nfile:\n%s", err, yaml)
	}
	return cfg
}

// problems parses a file that must be invalid and returns its error lines.
func problems(t *testing.T, yaml string, lookupEnv func(string) (string, bool)) []string {
	t.Helper()
	cfg, err := Parse([]byte(yaml), lookupEnv)
	if err == nil {
		t.Fatalf("Parse succeeded (%+v), want an error\nfile:\n%s", cfg, yaml)
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("errors.Is(%v, ErrInvalidConfig) = false", err)
	}
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %T is not a *Error", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(cerr.Errors) {
		t.Fatalf("Error() has %d lines for %d problems", len(lines), len(cerr.Errors))
	}
	return lines
}

// wantProblem fails unless want is one of the error lines of the file.
func wantProblem(t *testing.T, yaml string, lookupEnv func(string) (string, bool), want string) {
	t.Helper()
	got := problems(t, yaml, lookupEnv)
	if !slices.Contains(got, want) {
		t.Errorf("problems do not include\n  %s\ngot:\n  %s\nfile:\n%s", want, strings.Join(got, "\n  "), yaml)
	}
}
