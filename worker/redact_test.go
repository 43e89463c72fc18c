package worker

import (
	"strings"
	"testing"
)

func TestRedactRaw(t *testing.T) {
	secret := secretSet(Target{Headers: map[string]string{"X-Partner-Key": "cfg-value-123"}}, Security{RedactHeaders: []string{"X-Internal-Token"}})
	cases := []struct {
		name, in string
		gone     []string
		kept     []string
	}{
		{"truncated job", `{"id":"j1","headers":{"X-Api-Key":"s3cr3t","Accept":"x"},"body":{"a":`, []string{"s3cr3t"}, []string{`"Accept":"x"`, `"id":"j1"`}},
		{"case and spaces", `{"headers": {"authorization" :  "Bearer tok-9"}`, []string{"tok-9"}, []string{"authorization"}},
		{"escaped quote inside", `{"headers":{"X-Internal-Token":"a\"b-secret"}`, []string{"b-secret"}, nil},
		{"unterminated value", `{"headers":{"Cookie":"sess=abc123`, []string{"abc123"}, nil},
		{"configured value anywhere", `garbage cfg-value-123 garbage`, []string{"cfg-value-123"}, []string{"garbage"}},
		{"nothing secret", `not json at all`, nil, []string{"not json at all"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := string(newRawRedactor(secret, []string{"cfg-value-123"}).redact([]byte(c.in)))
			for _, g := range c.gone {
				if strings.Contains(out, g) {
					t.Errorf("%q still in %q", g, out)
				}
			}
			for _, k := range c.kept {
				if !strings.Contains(out, k) {
					t.Errorf("%q lost from %q", k, out)
				}
			}
		})
	}
}
