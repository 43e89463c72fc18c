package tests

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// promtool finds promtool; without it the test is skipped locally and fails
// in CI (CI=true), where .ci/run installs it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found but CI=true: .ci/run installs Debian's prometheus package, which has it")
		}
		t.Skip("promtool not found: install it (Debian: apt-get install prometheus) to check deploy/prometheus/alerts.yml")
	}
	return p
}

func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRules checks the rule file with promtool and runs its unit tests.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(deployDir, "prometheus")
	t.Run("check", func(t *testing.T) { runPromtool(t, dir, "check", "rules", "alerts.yml") })
	t.Run("test", func(t *testing.T) { runPromtool(t, dir, "test", "rules", "alerts_test.yml") })
}

// TestAlertMetrics checks that the alert rules, and the series their unit
// tests feed, name only series the service exports (promtool cannot tell).
func TestAlertMetrics(t *testing.T) {
	t.Parallel()
	exported := exportedNames(t)
	for _, f := range []string{"alerts.yml", "alerts_test.yml"} {
		raw, err := os.ReadFile(filepath.Join(deployDir, "prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		names := regexp.MustCompile(`dispatcher_[a-z_]+`).FindAllString(string(raw), -1)
		if len(names) == 0 {
			t.Fatalf("%s names no dispatcher_ series: the check is broken", f)
		}
		for _, name := range names {
			if !exported[name] {
				t.Errorf("%s names %s, which the service does not export", f, name)
			}
		}
	}
}

// TestAlertRunbookLinks checks that every alert has a summary, a
// description and a runbook link to a section of docs/runbook.md.
func TestAlertRunbookLinks(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	book, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^##+ (.+)$`).FindAllStringSubmatch(string(book), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[k] == "" {
					t.Errorf("alert %s: no %s", r.Alert, k)
				}
			}
			u := r.Annotations["runbook_url"]
			i := strings.Index(u, "docs/runbook.md#")
			if i < 0 {
				t.Errorf("alert %s: runbook_url %q does not point into docs/runbook.md", r.Alert, u)
				continue
			}
			if a := u[i+len("docs/runbook.md#"):]; !anchors[a] {
				t.Errorf("alert %s: docs/runbook.md has no section #%s", r.Alert, a)
			}
		}
	}
	if n < 6 {
		t.Errorf("%d alerts, want at least 6", n)
	}
}

// githubAnchor is the anchor GitHub gives a heading.
func githubAnchor(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestGrafanaDashboard checks that the dashboard parses, has its datasource
// and target variables, and queries only series the service exports.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(deployDir, "grafana", "dispatcher.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dispatcher.json: %v", err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["target"] != "query" {
		t.Errorf("variables %v, want datasource (datasource) and target (query)", vars)
	}
	exported := exportedNames(t)
	seen := map[string]bool{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			// Backlog and consumer gauges are fleet-wide readings every
			// instance exports: summed, they read N times too high.
			if regexp.MustCompile(`sum(\s*by\s*\([^)]*\))?\s*\(\s*(dispatcher_target_pending|dispatcher_target_oldest|dispatcher_partition_)`).MatchString(q.Expr) {
				t.Errorf("panel %q sums a fleet-wide gauge over the instances: %s", p.Title, q.Expr)
			}
		}
		for _, q := range p.Targets {
			for _, name := range regexp.MustCompile(`dispatcher_[a-z_]+`).FindAllString(q.Expr, -1) {
				if !exported[name] {
					t.Errorf("panel %q queries %s, which the service does not export", p.Title, name)
				}
				seen[name] = true
			}
		}
	}
	for _, want := range []string{"dispatcher_jobs_total", "dispatcher_attempt_duration_seconds_bucket", "dispatcher_retries_total",
		"dispatcher_breaker_state", "dispatcher_target_pending", "dispatcher_target_oldest_pending_seconds",
		"dispatcher_partition_ack_pending", "dispatcher_dead_letters_total", "dispatcher_target_health"} {
		if !seen[want] {
			t.Errorf("no panel queries %s", want)
		}
	}
}
