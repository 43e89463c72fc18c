package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPerTargetConcurrency(t *testing.T) {
	for n, want := range map[int]int{1: 64, 2: 32, 10: 6, 64: 1, 100: 1, 1000: 1, 10000: 1} {
		if got := perTargetConcurrency(n); got != want {
			t.Errorf("perTargetConcurrency(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestTargetNames(t *testing.T) {
	if got := targetNames(3); fmt.Sprint(got) != "[t00000 t00001 t00002]" {
		t.Errorf("targetNames(3) = %v", got)
	}
	big := targetNames(123456)
	if big[0] != "t000000" || big[len(big)-1] != "t123455" || !slices.IsSorted(big) {
		t.Errorf("targetNames(123456): %s … %s, sorted %t", big[0], big[len(big)-1], slices.IsSorted(big))
	}
	if got := pickEvenly(targetNames(10000), 10); got[0] != "t00000" || got[1] != "t01000" || got[9] != "t09000" {
		t.Errorf("pickEvenly(10000 names, 10) = %v", got)
	}
}

func TestSpreadJobsAndInterleave(t *testing.T) {
	jobs := spreadJobs("g", pathOK, targetNames(3), 7)
	per := map[string]int{}
	for _, j := range jobs {
		per[j.target]++
	}
	if fmt.Sprint(per) != "map[t00000:3 t00001:2 t00002:2]" || jobs[0].target != "t00000" || jobs[1].target != "t00001" {
		t.Errorf("spreadJobs: %v, first two %s %s", per, jobs[0].target, jobs[1].target)
	}

	a := spreadJobs("a", pathOK, []string{"a"}, 8)
	b := spreadJobs("b", pathHole, []string{"b"}, 2)
	got := interleave(a, b)
	var order strings.Builder
	for i, j := range got {
		order.WriteString(j.target)
		if j.n != i+1 {
			t.Errorf("job %d numbered %d", i, j.n)
		}
	}
	if order.String() != "aabaaaabaa" {
		t.Errorf("interleave order %s, want aabaaaabaa", order.String())
	}
	if got[2].id != "b-000001" || got[7].id != "b-000002" {
		t.Errorf("b's jobs out of order: %s, %s", got[2].id, got[7].id)
	}
}

func TestTargetsPlan(t *testing.T) {
	o := options{targetsSizes: []int{1, 100}, nTargetsJobs: 2000, targetsHot: 5, targetsHotAmong: 100, targetsIsolation: 100, nTargetsSick: 400}
	steps := targetsSteps(o)
	var names []string
	for _, st := range steps {
		names = append(names, st.name)
	}
	if want := "targets-1 targets-100 targets-hot targets-alone targets-isolation"; strings.Join(names, " ") != want {
		t.Fatalf("steps %v, want %s", names, want)
	}
	o.scenarios = []string{scDrain, scTargets}
	if got := strings.Join(expandScenarios(o), " "); got != "drain "+strings.Join(names, " ") {
		t.Errorf("expandScenarios = %s", got)
	}
	step := func(name string) targetsStep {
		st, ok := stepOf(steps, name)
		if !ok {
			t.Fatalf("no step %s", name)
		}
		return st
	}
	const sink = "http://127.0.0.1:1"

	one := step("targets-1").plan(sink)
	if tg := one.targets["t00000"].(map[string]any); len(one.targets) != 1 || tg["concurrency"] != 64 ||
		fmt.Sprint(tg["endpoints"]) != "[http://127.0.0.1:1/t/t00000]" || one.naiveEndpoint != sink+"/t/t00000" {
		t.Errorf("1 target: %v, naive endpoint %s", one.targets, one.naiveEndpoint)
	}

	hot := step("targets-hot").plan(sink)
	if len(hot.targets) != 100 || len(hot.receiving) != 5 || len(hot.jobs) != 2000 || hot.healthy != 2000 {
		t.Errorf("hot: %d configured, %d receiving, %d jobs", len(hot.targets), len(hot.receiving), len(hot.jobs))
	}
	if c := hot.targets["t00099"].(map[string]any)["concurrency"]; c != 1 {
		t.Errorf("hot: concurrency %v, want 1", c)
	}

	alone, iso := step("targets-alone").plan(sink), step("targets-isolation").plan(sink)
	if len(alone.targets) != 98 || len(iso.targets) != 100 || !slices.Equal(alone.receiving, iso.receiving) || len(iso.receiving) != 98 {
		t.Errorf("alone configures %d, isolation %d; receiving %d and %d, want 98, 100 and the same 98",
			len(alone.targets), len(iso.targets), len(alone.receiving), len(iso.receiving))
	}
	if alone.hole != "" || len(alone.warmup) != 0 || len(alone.jobs) != 2000 {
		t.Errorf("alone: hole %q, %d warm-up jobs, %d jobs", alone.hole, len(alone.warmup), len(alone.jobs))
	}
	if iso.hole == "" || iso.failing == "" || slices.Contains(iso.receiving, iso.hole) || slices.Contains(iso.receiving, iso.failing) {
		t.Fatalf("isolation: hole %q, failing %q among the receiving", iso.hole, iso.failing)
	}
	if tg := iso.targets[iso.hole].(map[string]any); tg["timeouts"] == nil {
		t.Errorf("hole without a short timeout: %v", tg)
	}
	if eps := iso.targets[iso.failing].(map[string]any)["endpoints"].([]string); len(eps) != 2 {
		t.Errorf("failing target endpoints %v, want two", eps)
	}
	count := func(jobs []job, path string) int {
		return len(slices.DeleteFunc(slices.Clone(jobs), func(j job) bool { return j.path != path }))
	}
	if w := sickWarmup(400); len(iso.warmup) != 2*w || count(iso.warmup, pathHole) != w || count(iso.jobs, pathFail) != 400-w ||
		count(iso.jobs, pathOK) != 2000 || iso.healthy != 2000 {
		t.Errorf("isolation: %d warm-up jobs, %d failing and %d healthy measured, want %d, %d and 2000",
			len(iso.warmup), count(iso.jobs, pathFail), count(iso.jobs, pathOK), 2*w, 400-w)
	}
	for _, c := range []struct{ n, want int }{{1000, 250}, {200, 100}, {40, 40}} {
		if got := sickWarmup(c.n); got != c.want {
			t.Errorf("sickWarmup(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

func TestRunsTargets(t *testing.T) {
	for _, c := range []struct {
		sc, sut string
		want    bool
	}{
		{"targets-1", sutNaive, true},
		{"targets-1", sutDispatcher, true},
		{"targets-100", sutNaive, false},
		{"targets-100", sutBaseline, true},
		{"targets-hot", sutNaive, false},
		{"targets-isolation", sutNaive, false},
		{scDrain, sutNaive, true},
	} {
		if got := runs(c.sc, c.sut); got != c.want {
			t.Errorf("runs(%s, %s) = %t", c.sc, c.sut, got)
		}
	}
}

const exposition = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 517
go_goroutines_extra 3
dispatcher_breaker_state{endpoint="http://h/t/t00066/a",target="t00066"} 2
dispatcher_breaker_state{endpoint="http://h/t/t00066/b",target="t00066"} 1
dispatcher_breaker_state{endpoint="http://h/t/t00006",target="t00006"} 0
`

func TestMetricParsing(t *testing.T) {
	if v, err := metricSum(exposition, "go_goroutines"); err != nil || v != 517 {
		t.Errorf("go_goroutines = %v, %v; want 517", v, err)
	}
	if v, err := metricSum(exposition, "dispatcher_breaker_state"); err != nil || v != 3 {
		t.Errorf("dispatcher_breaker_state sum = %v, %v; want 3", v, err)
	}
	if _, err := metricSum(exposition, "go_threads"); err == nil {
		t.Error("go_threads: no error")
	}
	if got := labelled(exposition, "dispatcher_breaker_state", "target", "t00066"); fmt.Sprint(got) != "[2 1]" {
		t.Errorf("labelled t00066 = %v, want [2 1]", got)
	}
	if got := labelled(exposition, "dispatcher_breaker_state", "target", "t0006"); len(got) != 0 {
		t.Errorf("labelled t0006 = %v, want none", got)
	}
}

func TestParseOptionsTargets(t *testing.T) {
	o, err := parseOptions([]string{"-scenarios", "targets", "-targets-sizes", "1000, 1,100,1_000"}, io.Discard)
	if err != nil || fmt.Sprint(o.targetsSizes) != "[1 100 1000]" || fmt.Sprint(o.scenarios) != "[targets]" {
		t.Errorf("sizes %v, scenarios %v, %v", o.targetsSizes, o.scenarios, err)
	}
	o, err = parseOptions([]string{"-quick", "-targets-isolation", "50"}, io.Discard)
	if err != nil || fmt.Sprint(o.targetsSizes) != "[1 10 100]" || o.targetsIsolation != 50 || o.nTargetsJobs != 2000 {
		t.Errorf("-quick: sizes %v, isolation %d, jobs %d, %v", o.targetsSizes, o.targetsIsolation, o.nTargetsJobs, err)
	}
	if o, _ := parseOptions(nil, io.Discard); slices.Contains(o.scenarios, scTargets) {
		t.Error("targets runs by default")
	}
	for _, args := range [][]string{
		{"-targets-sizes", "0"}, {"-targets-sizes", "x"}, {"-targets-hot", "20", "-targets-hot-among", "10"},
		{"-targets-isolation", "2"}, {"-targets-ready-timeout", "0s"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestDeliveryQuantiles(t *testing.T) {
	start := time.Unix(100, 0)
	jobs := spreadJobs("g", pathOK, []string{"a"}, 100)
	jobs = append(jobs, job{id: "h-000001", path: pathHole})
	got := map[string]int64{"h-000001": start.Add(time.Hour).UnixNano()} // not a healthy job: left out
	for i, j := range jobs[:99] {
		got[j.id] = start.Add(time.Duration(i+1) * 10 * time.Millisecond).UnixNano()
	}
	q := deliveryQuantiles(got, jobs, start, start.Add(time.Minute))
	if fmt.Sprintf("%.2f %.2f %.0f", q["p50_s"], q["p99_s"], q["all_s"]) != "0.50 0.99 60" {
		t.Errorf("quantiles %v, want p50 0.5 s, p99 0.99 s, all 60 s (one job not answered when given up)", q)
	}
}

func TestIdleCost(t *testing.T) {
	// 1 MiB more over 1,000 targets past the first: 1,048,576 B ÷ 999.
	if got := idleCostKB(30, 31, 1000); fmt.Sprintf("%.3f", got) != "1.050" {
		t.Errorf("idleCostKB = %.3f, want 1.050", got)
	}
}

// targetsReport is a report of the targets scenario with dispatcher and the
// baseline over three repeats; dispatcher is not ready with 10,000 targets
// in repeat 3.
func targetsReport() *report {
	o := options{scenarios: []string{scTargets}, suts: []string{sutDispatcher, sutBaseline}, targetsSizes: []int{1, 1000, 10000},
		nTargetsJobs: 20000, targetsIsolation: 1000, nTargetsSick: 1000, targetsReadyTimeout: 90 * time.Second}
	rep := newReport(o)
	add := func(step, sut string, repeat int, m map[string]float64) {
		full := map[string]float64{}
		for k, v := range m {
			full[step+"."+k] = v
		}
		rep.add(runResult{Scenario: step, SUT: sut, Repeat: repeat, Metrics: full})
	}
	for r := 1; r <= 3; r++ {
		f := float64(r)
		add("targets-1", sutDispatcher, r, map[string]float64{"ready_s": 0.5, "idle_rss_mib": 30, "jobs_per_s": 10000 + 1000*f, "nats_cpu_us_per_job": 20})
		add("targets-1", sutBaseline, r, map[string]float64{"ready_s": 0.5, "idle_rss_mib": 30, "jobs_per_s": 10500 + 1000*f})
		add("targets-1000", sutDispatcher, r, map[string]float64{"ready_s": 2, "jobs_per_s": 9000, "jobs_per_s_vs_1": 0.85 + f/100,
			"nats_cpu_us_per_job": 30, "nats_cpu_us_per_job_vs_1": 1.5, "idle_kb_per_target": 15})
		add("targets-1000", sutBaseline, r, map[string]float64{"ready_s": 9, "jobs_per_s": 3000, "jobs_per_s_vs_1": 0.3})
		if r < 3 {
			add("targets-10000", sutDispatcher, r, map[string]float64{"not_ready": 0, "ready_s": 4 + f, "idle_rss_mib": 100, "peak_rss_mib": 150, "idle_kb_per_target": 18 + f})
		} else {
			add("targets-10000", sutDispatcher, r, map[string]float64{"not_ready": 1})
		}
		add("targets-10000", sutBaseline, r, map[string]float64{"not_ready": 1})
		add("targets-alone", sutDispatcher, r, map[string]float64{"jobs_per_s": 9000})
		add("targets-isolation", sutDispatcher, r, map[string]float64{"jobs_per_s": 8500, "ratio": 0.92 + f/100})
	}
	rep.finish()
	return rep
}

func TestTargetsReport(t *testing.T) {
	rep := targetsReport()
	var b bytes.Buffer
	rep.print(&b)
	out := b.String()
	for _, want := range []string{
		"targets scenario (issue 14)",
		"targets-1000: 1,000 target(s) (concurrency 1 each)",
		"jobs/s ÷ 1 target's",
		"0.870 (0.860–0.880)",
		"dispatcher/baseline",
		"3.00×", // 9,000 ÷ 3,000 jobs/s
		"5.50 (5–6); 1 of 3 not ready (see notes)",
		"3 of 3 not ready (see notes)",
		"healthy jobs/s ÷ the same without the sick targets",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printed report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\nmetric ") {
		t.Errorf("a main table without rows:\n%s", out)
	}
	checks := map[string]targetCheck{}
	for _, c := range rep.Targets {
		checks[c.Target] = c
	}
	for target, want := range map[string]struct {
		met   bool
		value string
	}{
		"1,000 targets: jobs/s ≥ 0.8 × 1 target's (issue 14)":                      {true, "0.87×"},
		"1,000 targets: nats-server CPU/job ≤ 2 × 1 target's (issue 14)":           {true, "1.50×"},
		"10,000 targets: ready ≤ 5 s (issue 14)":                                   {false, "1 of 3 not ready"},
		"10,000 targets: peak RSS ≤ 256 MB = 244 MiB (issue 14)":                   {true, "150 MiB"},
		"10,000 targets: idle ≤ 20 kB per target (issue 14)":                       {true, "19.5 kB"},
		"targets isolation: healthy ≥ 0.9 × without the sick (issue 14)":           {true, "0.940"},
		"1 target: jobs/s unchanged within noise (≥ the baseline's min; issue 14)": {true, "12000 vs baseline 12500 (11500–13500)"},
	} {
		c, ok := checks[target]
		switch {
		case !ok:
			t.Errorf("no check %q in %+v", target, rep.Targets)
		case c.Met != want.met || !strings.Contains(c.Value, want.value):
			t.Errorf("%s: met %t, %q; want %t, %q", target, c.Met, c.Value, want.met, want.value)
		}
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"key":"targets-1000.jobs_per_s_vs_1"`, `"targets_sizes":[1,1000,10000]`, `"targets-10000.not_ready":1`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}
