package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
)

const deployDir = "../deploy"

// TestDeployFilesParse keeps deploy/ from rotting: every YAML and JSON file
// parses (all documents of a multi-document YAML file).
func TestDeployFilesParse(t *testing.T) {
	n := 0
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			n++
			dec := yaml.NewDecoder(bytes.NewReader(data))
			for i := 0; ; i++ {
				var doc any
				if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Errorf("%s: document %d: %v", path, i+1, err)
					break
				}
			}
		case ".json":
			n++
			if !json.Valid(data) {
				t.Errorf("%s: not valid JSON", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d YAML/JSON files under %s", n, deployDir)
	}
}

// The dispatcher configs shipped in deploy/ pass serve's validation.
func TestDeployDispatcherConfigsValid(t *testing.T) {
	t.Setenv("PAYMENTS_TOKEN", "test-token")
	t.Setenv("DEMO_TOKEN", "test-token")
	t.Setenv("HTTP_TOKEN", "test-http-token-0123456789")
	setDeployPasswords(t)
	for _, path := range []string{"compose/dispatcher.yaml", "k8s/base/dispatcher.yaml"} {
		t.Run(path, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join(deployDir, path))
			if err != nil {
				t.Fatalf("config check: %v", err)
			}
			if len(cfg.Targets) == 0 {
				t.Fatal("no targets")
			}
		})
	}
}

// updateDeploy rewrites deploy/nats/streams/*.json from the service's stream
// configs: go test ./tests -run TestDeployStreamDefinitionsMatchTopology -update-deploy
var updateDeploy = flag.Bool("update-deploy", false, "rewrite deploy/nats/streams/*.json from the service's stream configs")

// deploy/nats/streams/*.json are exactly the streams the service creates, so
// 'nats stream add --config' gives the same result as 'dispatcher serve'.
func TestDeployStreamDefinitionsMatchTopology(t *testing.T) {
	want := dispatcher.StreamConfigs(schemas.Topology{Prefix: "dispatch"}, dispatcher.StreamSettings{
		Replicas: 1, DeadLetterMaxAge: config.DefaultDeadLetterMaxAge, FallbackMaxAge: config.DefaultFallbackMaxAge,
	})
	for _, sc := range want {
		t.Run(sc.Name, func(t *testing.T) {
			path := filepath.Join(deployDir, "nats", "streams", sc.Name+".json")
			if *updateDeploy {
				out, err := json.MarshalIndent(sc, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got jetstream.StreamConfig
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, sc) {
				t.Fatalf("deploy/nats/streams/%s.json differs from the service's stream:\n got  %+v\n want %+v", sc.Name, got, sc)
			}
		})
	}
}

// The nats-server configs load with the server's own parser.
func TestDeployNATSConfigsLoad(t *testing.T) {
	setDeployPasswords(t)
	paths, _ := filepath.Glob(filepath.Join(deployDir, "nats", "*.conf"))
	if len(paths) < 4 {
		t.Fatalf("found %d nats configs, want single + 3 cluster nodes", len(paths))
	}
	for _, p := range paths {
		if filepath.Base(p) == "accounts.conf" {
			continue // included by the others (TestDeployNATSAccountsEverywhere)
		}
		t.Run(filepath.Base(p), func(t *testing.T) {
			opts, err := server.ProcessConfigFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !opts.JetStream {
				t.Error("JetStream is not enabled")
			}
		})
	}
}

// Every grace period outlasts shutdown_timeout, so a stop never cuts an
// in-flight call that the service would have let finish.
func TestDeployGracePeriodsAboveShutdownTimeout(t *testing.T) {
	t.Setenv("PAYMENTS_TOKEN", "x")
	t.Setenv("DEMO_TOKEN", "x")
	t.Setenv("HTTP_TOKEN", "test-http-token-0123456789")
	setDeployPasswords(t)
	k8sCfg, err := config.Load(filepath.Join(deployDir, "k8s/base/dispatcher.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Grace      int `yaml:"terminationGracePeriodSeconds"`
					Containers []struct {
						Liveness struct {
							HTTPGet struct{ Path string } `yaml:"httpGet"`
						} `yaml:"livenessProbe"`
						Readiness struct {
							HTTPGet struct{ Path string } `yaml:"httpGet"`
						} `yaml:"readinessProbe"`
					}
				}
			}
		}
	}
	readYAML(t, "k8s/base/deployment.yaml", &dep)
	ps := dep.Spec.Template.Spec
	if time.Duration(ps.Grace)*time.Second <= k8sCfg.ShutdownTimeout {
		t.Errorf("k8s terminationGracePeriodSeconds %d <= shutdown_timeout %s", ps.Grace, k8sCfg.ShutdownTimeout)
	}
	if len(ps.Containers) != 1 || ps.Containers[0].Liveness.HTTPGet.Path != "/healthz" || ps.Containers[0].Readiness.HTTPGet.Path != "/readyz" {
		t.Errorf("probes %+v, want /healthz liveness and /readyz readiness", ps.Containers)
	}

	composeCfg, err := config.Load(filepath.Join(deployDir, "compose/dispatcher.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			StopGrace string `yaml:"stop_grace_period"`
		}
	}
	readYAML(t, "compose.yaml", &compose)
	if d, err := time.ParseDuration(compose.Services["dispatcher"].StopGrace); err != nil || d <= composeCfg.ShutdownTimeout {
		t.Errorf("compose stop_grace_period %q, want above shutdown_timeout %s", compose.Services["dispatcher"].StopGrace, composeCfg.ShutdownTimeout)
	}

	unit, err := os.ReadFile(filepath.Join(deployDir, "systemd/dispatcher.service"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)s$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("systemd unit has no TimeoutStopSec=<n>s")
	}
	if secs, _ := strconv.Atoi(string(m[1])); time.Duration(secs)*time.Second <= config.DefaultShutdownTimeout {
		t.Errorf("systemd TimeoutStopSec=%ss <= default shutdown_timeout %s", m[1], config.DefaultShutdownTimeout)
	}
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("systemd unit lacks %s", want)
		}
	}
}

// The shipped configs listen beyond loopback, so they carry http.token
// from HTTP_TOKEN, and whatever scrapes /metrics sends it: Prometheus'
// dispatcher job a bearer token from the file compose mounts from the same
// variable.
func TestDeployHTTPToken(t *testing.T) {
	const token = "test-http-token-0123456789"
	t.Setenv("PAYMENTS_TOKEN", "x")
	t.Setenv("DEMO_TOKEN", "x")
	t.Setenv("HTTP_TOKEN", token)
	setDeployPasswords(t)
	for _, path := range []string{"compose/dispatcher.yaml", "k8s/base/dispatcher.yaml"} {
		cfg, err := config.Load(filepath.Join(deployDir, path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if cfg.HTTP.Token != token {
			t.Errorf("%s: http.token is not ${HTTP_TOKEN}", path)
		}
	}
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			Authorization struct {
				Type            string
				CredentialsFile string `yaml:"credentials_file"`
			}
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	var credentials string
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName == "dispatcher" && sc.Authorization.Type == "Bearer" {
			credentials = sc.Authorization.CredentialsFile
		}
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string
			Secrets     []string
		}
		Secrets map[string]struct{ Environment string }
	}
	readYAML(t, "compose.yaml", &compose)
	if credentials != "/run/secrets/http_token" || !slices.Contains(compose.Services["prometheus"].Secrets, "http_token") ||
		compose.Secrets["http_token"].Environment != "HTTP_TOKEN" {
		t.Errorf("Prometheus' dispatcher job reads its bearer token from %q; want /run/secrets/http_token, compose's secret http_token from HTTP_TOKEN mounted in prometheus", credentials)
	}
	if !strings.Contains(compose.Services["dispatcher"].Environment["HTTP_TOKEN"], "${HTTP_TOKEN:?") {
		t.Errorf("compose passes dispatcher HTTP_TOKEN as %q, want it required from the environment", compose.Services["dispatcher"].Environment["HTTP_TOKEN"])
	}
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	readYAML(t, "k8s/base/secret.example.yaml", &secret)
	if len(secret.StringData["HTTP_TOKEN"]) < config.MinTokenBytes {
		t.Errorf("k8s secret.example.yaml has no HTTP_TOKEN of at least %d bytes", config.MinTokenBytes)
	}
}

func readYAML(t *testing.T, rel string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}
