package tests

import (
	"regexp"
	"strings"
	"testing"

	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// TestProcessDemo runs 'dispatcher demo' end to end: it exits 0, prints
// every sample job's outcome (delivered, delivered after retries,
// dead-lettered for each reason, fallback), then heals the targets, shows
// the lag view, replays the dead letters and prints where each replayed job
// ended, and shows the lag view again with what is left.
func TestProcessDemo(t *testing.T) {
	t.Parallel()
	r := testenv.RunCLI(t, nil, nil, "demo")
	if r.Code != 0 {
		t.Fatalf("demo failed:\n%s", r)
	}
	out := r.Stdout
	if strings.Contains(out, "(none yet)") || strings.Contains(out, "gave up waiting") {
		t.Errorf("some job had no outcome:\n%s", out)
	}
	first, rest, ok := strings.Cut(out, "$ dispatcher dlq replay --all")
	if !ok {
		t.Fatalf("no replay step:\n%s", out)
	}
	cols := regexp.MustCompile(`\s{2,}`)
	// row returns the cells of the row of job id in text, nil when none.
	row := func(text, id string) []string {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, id+" ") {
				return cols.Split(strings.TrimSpace(line), -1)
			}
		}
		return nil
	}

	// JOB TARGET STORY OUTCOME ATTEMPTS DETAIL
	outcomes := []struct{ id, outcome, attempts, detail string }{
		{"demo-ok", "delivered", "1", "status 200"},
		{"demo-flaky", "delivered", "3", "status 200"},
		{"demo-limited", "delivered", "2", "status 200"},
		{"demo-slow", "dead_lettered", "3", "timeout_"},
		{"demo-422", "dead_lettered", "1", "http_4xx"},
		{"demo-500", "dead_lettered", "3", "http_5xx"},
		{"demo-down-1", "dead_lettered", "1", "connection_refused"},
		{"demo-down-2", "dead_lettered", "1", "connection_refused"},
		{"demo-down-3", "fallback", "0", "fallback answer 202"},
		{"demo-expired", "dead_lettered", "0", "expired"},
		{"demo-invalid", "dead_lettered", "0", "invalid"},
		{"demo-orphan", "dead_lettered", "0", "unknown_target"},
	}
	for _, o := range outcomes {
		c := row(first, o.id)
		if len(c) != 6 || c[3] != o.outcome || c[4] != o.attempts || !strings.HasPrefix(c[5], o.detail) {
			t.Errorf("%s: row %q, want %s after %s attempts, detail %s...", o.id, c, o.outcome, o.attempts, o.detail)
		}
	}
	if !strings.Contains(first, "dead_lettered: 8  delivered: 3  fallback: 1") {
		t.Errorf("no outcome summary of 8 dead-lettered, 3 delivered, 1 fallback:\n%s", first)
	}
	if !strings.Contains(first, "Healing:") || strings.Count(first, "$ dispatcher lag") != 1 {
		t.Errorf("no healing and lag view before the replay:\n%s", first)
	}
	if !strings.Contains(rest, "replayed 7, failed 0, skipped 1 (of 8 selected: all)") {
		t.Errorf("replay summary missing or wrong:\n%s", rest)
	}

	// JOB TARGET DEAD-LETTER REPLAY ENDED ATTEMPTS DETAIL
	replayed := []struct{ id, replay, ended, detail string }{
		{"demo-slow", "replayed", "delivered", "status 200"},
		{"demo-422", "replayed", "delivered", "status 200"},
		{"demo-500", "replayed", "delivered", "status 200"},
		{"demo-down-1", "replayed", "delivered", "status 200"},
		{"demo-down-2", "replayed", "delivered", "status 200"},
		{"demo-expired", "replayed", "dead_lettered", "expired"},
		{"demo-orphan", "replayed", "dead_lettered", "unknown_target"},
		{"demo-invalid", "skipped", "kept in DISPATCH_DLQ", "dead letter"},
	}
	for _, o := range replayed {
		c := row(rest, o.id)
		if len(c) != 7 || c[3] != o.replay || c[4] != o.ended || !strings.HasPrefix(c[6], o.detail) {
			t.Errorf("replayed %s: row %q, want %s, ended %s, detail %s...", o.id, c, o.replay, o.ended, o.detail)
		}
	}
	// The last lag view: legacy has no dead letter left, its fallback
	// record stays; shop keeps the expired and the invalid job.
	_, last, ok := strings.Cut(rest, "$ dispatcher lag")
	if !ok {
		t.Fatalf("no lag view after the replay:\n%s", rest)
	}
	// TARGET HEALTH PARTITION PENDING IN-FLIGHT BUFFERED RETRYING DEAD FALLBACK OLDEST ETA CAUSE
	for _, w := range []struct{ target, dead, fallback string }{{"legacy", "0", "1"}, {"shop", "2", "0"}, {"nowhere", "1", "0"}} {
		c := row(last, w.target)
		if len(c) < 9 || c[3] != "0" || c[7] != w.dead || c[8] != w.fallback {
			t.Errorf("last lag view, %s: row %q, want 0 pending, %s dead, %s fallback", w.target, c, w.dead, w.fallback)
		}
	}
}
