package testenv

import (
	"maps"
	"testing"

	"go.yaml.in/yaml/v3"
)

// M is a YAML mapping in a config under construction.
type M = map[string]any

// BaseConfig returns the settings every test starts from: the test NATS URL,
// health on a random port of 127.0.0.1, loopback targets allowed, short
// timeouts and retry intervals, no jitter, and breakers that only trip when
// a test configures them to. It has no targets.
func BaseConfig(natsURL string) M {
	return M{
		"service_name":     "dispatcher-test",
		"nats":             M{"url": natsURL},
		"http":             M{"listen": "127.0.0.1:0"},
		"shutdown_timeout": "5s",
		"orphan_grace":     "1s",
		"security":         M{"allow_private_networks": true},
		"defaults": M{
			"concurrency": 8,
			"timeouts":    M{"connect": "1s", "tls": "1s", "response_header": "2s", "total": "3s"},
			"retry": M{
				"max_attempts": 3, "initial_interval": "100ms", "multiplier": 2,
				"max_interval": "30s", "randomization": 0, "max_elapsed": "5m",
			},
			"breaker": M{"consecutive_failures": 1000000, "min_requests": 1000000},
		},
	}
}

// Config returns BaseConfig(natsURL) with each override merged in, in
// order, as YAML: mappings merge key by key, anything else replaces.
//
//	testenv.Config(url, testenv.M{"targets": testenv.M{"a": testenv.M{
//		"endpoints": []string{sink.URL}, "retry": testenv.M{"max_attempts": 1}}}})
func Config(natsURL string, overrides ...M) string {
	cfg := BaseConfig(natsURL)
	for _, o := range overrides {
		cfg = Merge(cfg, o)
	}
	return YAML(cfg)
}

// Target returns the targets section entry of one target at endpoint with
// extra settings merged in.
func Target(endpoint string, extra ...M) M {
	t := M{"endpoints": []string{endpoint}}
	for _, e := range extra {
		t = Merge(t, e)
	}
	return t
}

// Targets wraps target entries by name into an override.
func Targets(byName M) M { return M{"targets": byName} }

// Merge returns base with over merged in: nested mappings merge, anything
// else in over replaces. Neither argument is modified.
func Merge(base, over M) M {
	out := maps.Clone(base)
	for k, v := range over {
		if bm, ok := out[k].(M); ok {
			if om, ok := v.(M); ok {
				out[k] = Merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// YAML renders a mapping as YAML.
func YAML(m M) string {
	b, err := yaml.Marshal(m)
	if err != nil {
		panic("testenv: YAML: " + err.Error()) // only plain values go in
	}
	return string(b)
}

// WriteConfig writes yaml to a file in a temp dir and returns its path.
func WriteConfig(t testing.TB, yamlText string) string {
	t.Helper()
	p := t.TempDir() + "/dispatcher.yaml"
	writeFile(t, p, []byte(yamlText))
	return p
}
