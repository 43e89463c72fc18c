package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickRun builds the harness and runs it with -quick: every scenario
// against both systems with tiny sizes. It takes about a minute (more when
// nats-server is not in the build cache yet), so it runs only with
// DISPATCH_BENCH_SMOKE=1:
//
//	DISPATCH_BENCH_SMOKE=1 go test -run QuickRun -v ./tests/bench/
func TestQuickRun(t *testing.T) {
	goBin := smokeGo(t)
	rep := runQuick(t, goBin, "-quick")
	checkRuns(t, rep, allScenarios, allSUTs)
	for _, key := range []string{"drain.jobs_per_s", "rate.p99_ms", "isolation.ratio", "flaky.seconds", "flaky_random.seconds", "scaleout.ratio"} {
		found := false
		for _, row := range rep.Summary {
			if row.Key == key && (len(row.SUTs) == len(allSUTs) || !runs(strings.Split(key, ".")[0], sutNaive) && row.SUTs[sutDispatcher] != nil) {
				found = true
			}
		}
		if !found {
			t.Errorf("summary lacks %s for every system", key)
		}
	}
	if row := rep.row("flaky_random.seconds"); row == nil || len(row.Repeats) != 1 || row.Repeats[0].Ratio == nil {
		t.Errorf("flaky_random.seconds lacks its figures repeat by repeat: %+v", row)
	}
}

// TestQuickRunBaseline runs the harness with -quick and -baseline-bin (a
// second build of ./cmd/dispatcher) on the scenarios that take dispatcher's
// other paths: the baseline must run wherever dispatcher runs and get its
// ratio. Like TestQuickRun it runs only with DISPATCH_BENCH_SMOKE=1.
func TestQuickRunBaseline(t *testing.T) {
	goBin := smokeGo(t)
	base := filepath.Join(t.TempDir(), "dispatcher-base")
	if out, err := exec.Command(goBin, "build", "-o", base, "../../cmd/dispatcher").CombinedOutput(); err != nil {
		t.Fatalf("go build dispatcher: %v\n%s", err, out)
	}
	scenarios := []string{scDrain, scFlakyRandom, scScaleout}
	rep := runQuick(t, goBin, "-quick", "-scenarios", strings.Join(scenarios, ","), "-baseline-bin", base)
	checkRuns(t, rep, scenarios, knownSUTs)
	for _, key := range []string{"drain.jobs_per_s", "flaky_random.seconds", "scaleout.ratio"} {
		row := rep.row(key)
		if row == nil || row.SUTs[sutBaseline] == nil || row.RatioBaseline == nil {
			t.Errorf("summary lacks the baseline's %s or dispatcher/baseline: %+v", key, row)
		}
	}
	if row := rep.row("flaky_random.seconds"); row == nil || len(row.Repeats) != 1 || row.Repeats[0].RatioBaseline == nil {
		t.Errorf("flaky_random.seconds lacks the baseline repeat by repeat: %+v", row)
	}
	if rep.Builds[sutBaseline] == "" {
		t.Error("report lacks the baseline's build")
	}
}

// TestQuickRunTargets runs the targets scenario with -quick (1, 10 and 100
// targets, 5 hot among 100, isolation with 100) against naive and
// dispatcher. Like TestQuickRun it runs only with DISPATCH_BENCH_SMOKE=1.
func TestQuickRunTargets(t *testing.T) {
	goBin := smokeGo(t)
	rep := runQuick(t, goBin, "-quick", "-scenarios", scTargets)
	o, err := parseOptions([]string{"-quick", "-scenarios", scTargets}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checkRuns(t, rep, expandScenarios(o), allSUTs)
	for _, r := range rep.Runs {
		if r.Metrics[r.Scenario+".not_ready"] != 0 {
			t.Errorf("%s %s: not ready: %v", r.Scenario, r.SUT, r.Notes)
		}
	}
	for _, key := range []string{"targets-1.jobs_per_s", "targets-1.nats_cpu_us_per_job", "targets-100.jobs_per_s_vs_1",
		"targets-100.idle_kb_per_target", "targets-100.goroutines", "targets-hot.jobs_per_s", "targets-isolation.ratio"} {
		if row := rep.row(key); row == nil || row.SUTs[sutDispatcher] == nil {
			t.Errorf("summary lacks dispatcher's %s", key)
		}
	}
	if row := rep.row("targets-1.jobs_per_s"); row == nil || row.SUTs[sutNaive] == nil {
		t.Error("summary lacks naive's 1-target jobs/s")
	}
}

// smokeGo skips the test unless DISPATCH_BENCH_SMOKE=1 and a go command
// is found, and returns that command.
func smokeGo(t *testing.T) string {
	t.Helper()
	if os.Getenv("DISPATCH_BENCH_SMOKE") != "1" {
		t.Skip("set DISPATCH_BENCH_SMOKE=1 to run the benchmark's smoke run")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	return goBin
}

// checkRuns checks that rep has one run, without an error, for each pair of
// scenarios and systems that runs.
func checkRuns(t *testing.T, rep *report, scenarios, suts []string) {
	t.Helper()
	want := 0
	for _, sc := range scenarios {
		for _, sut := range suts {
			if runs(sc, sut) {
				want++
			}
		}
	}
	if len(rep.Runs) != want {
		t.Errorf("runs = %d, want %d", len(rep.Runs), want)
	}
	for _, r := range rep.Runs {
		if r.Error != "" {
			t.Errorf("%s %s: %s", r.Scenario, r.SUT, r.Error)
		}
	}
}

// runQuick builds the harness, runs it with args and returns its JSON
// report.
func runQuick(t *testing.T, goBin string, args ...string) *report {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bench")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	results := filepath.Join(dir, "results.json")
	cmd := exec.Command(bin, append(args, "-json", results)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.WaitDelay = 10 * time.Second
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("bench -quick: %v", err)
		}
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Signal(os.Interrupt)
		<-done
		t.Fatal("bench -quick did not finish within 5 minutes")
	}

	b, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("results: %v", err)
	}
	return &rep
}
