package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestFallbackBodyAsJSON(t *testing.T) {
	tests := []struct {
		name string
		body string // YAML of fallback.body, written inline
		want string // JSON; "" for a nil body
	}{
		{"mapping keeps key order", `{"queued": true, "b": 1, "a": null}`, `{"queued":true,"b":1,"a":null}`},
		{"nested", `{a: [1, 2.5, "x", {b: false}]}`, `{"a":[1,2.5,"x",{"b":false}]}`},
		{"string", `"<ok> & done"`, `"<ok> & done"`},
		{"plain number-like string kept as text when quoted", `"007"`, `"007"`},
		{"integer", `42`, `42`},
		{"hex integer", `0x10`, `16`},
		{"big integer", `18446744073709551615`, `18446744073709551615`},
		{"timestamp stays text", `2026-11-26T10:00:00Z`, `"2026-11-26T10:00:00Z"`},
		{"empty mapping", `{}`, `{}`},
		{"empty list", `[]`, `[]`},
		{"null means no body", `null`, ""},
		{"numeric key becomes a string", `{1: a}`, `{"1":"a"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, withTarget("fallback: {status: 202, body: "+tt.body+"}"), nil)
			fb := cfg.Targets["a"].Fallback
			if fb == nil || fb.Status != 202 {
				t.Fatalf("Fallback = %+v, want status 202", fb)
			}
			if string(fb.Body) != tt.want {
				t.Errorf("Body = %s, want %s", fb.Body, tt.want)
			}
		})
	}
}

func TestFallbackBodyErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"infinite number", `{x: .inf}`, `targets.a.fallback.body.x: must be a finite number to be JSON, got ".inf"`},
		{"binary", `!!binary aGk=`, "targets.a.fallback.body: unsupported YAML tag !!binary"},
		{"custom tag", `[!thing x]`, "targets.a.fallback.body[0]: unsupported YAML tag !thing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, withTarget("fallback: {status: 202, body: "+tt.body+"}"), nil, tt.want)
		})
	}
}

func TestFallbackBodyAliasBombBounded(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "x0: &x0 [%q]\n", strings.Repeat("a", 64))
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "x%d: &x%d [*x%d, *x%d]\n", i, i, i-1, i-1)
	}
	file := "targets:\n  a:\n    endpoints: [\"https://a.example.com\"]\n    fallback:\n      status: 202\n      body:\n"
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		file += "        " + line + "\n"
	}
	wantProblem(t, file, nil, "targets.a.fallback.body: must be at most 1048576 bytes as JSON")
}

func TestFallbackAbsentIsNil(t *testing.T) {
	cfg := mustParse(t, validTarget, nil)
	if fb := cfg.Targets["a"].Fallback; fb != nil {
		t.Errorf("Fallback = %+v, want nil", fb)
	}
	cfg = mustParse(t, withTarget("fallback: {status: 503}"), nil)
	if fb := cfg.Targets["a"].Fallback; fb == nil || fb.Status != 503 || fb.Body != nil {
		t.Errorf("Fallback = %+v, want status 503 and no body", fb)
	}
}
