package config

import (
	"errors"
	"testing"
)

// FuzzParse: any bytes either parse into a config with at least one target
// or fail with an error that is ErrInvalidConfig and names what is wrong;
// never a panic.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"targets:\n  a:\n    endpoints: [\"https://a.example.com\"]\n",
		"targets:\n  a:\n    endpoints: [\"https://a.example.com\"]\n    retrys: 5\n",
		"targets:\n  a:\n    endpoints: [\"https://a.example.com\"]\n    headers: {Authorization: \"Bearer ${TOKEN}\"}\n",
		"defaults: {retry: {max_attempts: 0}}\ntargets: {a: {endpoints: [\"http://x\"]}}\n",
		"nats: {url: \"nats://127.0.0.1:4222\", replicas: 3}\ntargets: {b: {endpoints: [\"https://b\"], fallback: {status: 202, body: {q: [1, 2]}}}}\n",
		"a: &a [*a, *a]\n",
		"- just\n- a list\n",
		"",
		"\xff\xfe",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	env := func(name string) (string, bool) {
		if name == "TOKEN" {
			return "t0k3n", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, env)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v is not ErrInvalidConfig", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if len(cfg.Targets) == 0 {
			t.Fatal("valid config without targets")
		}
		for name, tg := range cfg.Targets {
			if tg.Name != name || len(tg.Endpoints) == 0 || tg.Concurrency < 1 || tg.Retry.MaxAttempts < 1 {
				t.Fatalf("target %q resolved badly: %+v", name, tg)
			}
		}
	})
}
