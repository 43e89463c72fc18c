package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// runResult is the outcome of one run.
type runResult struct {
	Scenario string             `json:"scenario"`
	SUT      string             `json:"sut"`
	Repeat   int                `json:"repeat"`
	Seconds  float64            `json:"seconds"` // wall time of the whole run
	LoadAvg  string             `json:"loadavg_at_start,omitempty"`
	Metrics  map[string]float64 `json:"metrics"`
	Notes    []string           `json:"notes,omitempty"`
	Log      *logSummary        `json:"log,omitempty"` // dispatcher's log
	Error    string             `json:"error,omitempty"`
}

// metricDef is one row of the table.
type metricDef struct {
	Key   string
	Label string
}

// everyRepeatKeys are the rows also printed (and written) repeat by repeat,
// with dispatcher ÷ naive (and ÷ baseline) of each repeat: their median
// hides a bimodal spread.
var everyRepeatKeys = []string{"flaky_random.seconds", "flaky_random.delivered"}

var metricDefs = []metricDef{
	{"drain.jobs_per_s", "drain jobs/s (first→last receipt)"},
	{"drain.jobs_per_s_total", "drain jobs/s (SUT start→last receipt)"},
	{"drain.cpu_s_per_1k", "drain SUT CPU s per 1,000 jobs"},
	{"drain.peak_rss_mib", "drain SUT peak RSS MiB"},
	{"rate.sent_per_s", "rate published jobs/s"},
	{"rate.p50_ms", "rate p50 publish→receipt ms"},
	{"rate.p90_ms", "rate p90 publish→receipt ms"},
	{"rate.p99_ms", "rate p99 publish→receipt ms"},
	{"rate.max_ms", "rate max publish→receipt ms"},
	{"rate.lost", "rate lost jobs"},
	{"alone.fast_jobs_per_s", "isolation's healthy jobs alone, jobs/s"},
	{"isolation.fast_jobs_per_s", "isolation healthy jobs/s"},
	{"isolation.ratio", "isolation healthy jobs/s ÷ drain jobs/s"},
	{"isolation.ratio_alone", "isolation healthy jobs/s ÷ same jobs alone"},
	{"isolation.fast_missing", "isolation healthy jobs not delivered in time"},
	{"flaky.seconds", "flaky s until every job ended (see missing)"},
	{"flaky.delivered", "flaky delivered"},
	{"flaky.dead_lettered", "flaky dead-lettered"},
	{"flaky.fallback", "flaky fallback (breaker open)"},
	{"flaky.missing", "flaky missing (neither)"},
	{"flaky.calls", "flaky HTTP calls"},
	{"flaky_random.seconds", "flaky-random s until every job delivered (see missing)"},
	{"flaky_random.seconds_p99", "flaky-random s until 99% delivered"},
	{"flaky_random.delivered", "flaky-random delivered"},
	{"flaky_random.dead_lettered", "flaky-random dead-lettered"},
	{"flaky_random.fallback", "flaky-random fallback (breaker open)"},
	{"flaky_random.missing", "flaky-random missing (neither)"},
	{"flaky_random.calls", "flaky-random HTTP calls"},
	{"scaleout.jobs_per_s_1", "scaleout jobs/s, one instance"},
	{"scaleout.jobs_per_s_2", "scaleout jobs/s, two instances"},
	{"scaleout.ratio", "scaleout two instances ÷ one"},
	{"scaleout.min_share", "scaleout smaller instance's share of calls"},
	{"scaleout.ceiling_per_instance", "scaleout ceiling per instance, jobs/s"},
}

// spread is the median, min and max of a metric over repeats.
type spread struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values"`
}

// summaryRow is one row of the table.
type summaryRow struct {
	Key   string             `json:"key"`
	Label string             `json:"label"`
	SUTs  map[string]*spread `json:"suts"`
	// Ratio is dispatcher's median over naive's, when both ran.
	Ratio *float64 `json:"ratio_dispatcher_over_naive,omitempty"`
	// RatioBaseline is dispatcher's median over the baseline's (a ratio of
	// medians, as Ratio), when both ran.
	RatioBaseline *float64 `json:"ratio_dispatcher_over_baseline,omitempty"`
	// Repeats are the figures of every repeat, for the rows of
	// everyRepeatKeys.
	Repeats []repeatFigures `json:"repeats,omitempty"`
}

// repeatFigures is one repeat's figure of one metric for every system.
type repeatFigures struct {
	Repeat int                `json:"repeat"`
	SUTs   map[string]float64 `json:"suts"`
	// Ratio is dispatcher's figure over naive's in this repeat.
	Ratio *float64 `json:"ratio_dispatcher_over_naive,omitempty"`
	// RatioBaseline is dispatcher's figure over the baseline's in this
	// repeat.
	RatioBaseline *float64 `json:"ratio_dispatcher_over_baseline,omitempty"`
}

// targetCheck is one target: issue 3's unless its label says otherwise.
type targetCheck struct {
	Target string `json:"target"`
	Value  string `json:"value"`
	Met    bool   `json:"met"`
}

type hostInfo struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	GoVersion  string `json:"go_version"`
	// LoadAvgStart and LoadAvgEnd are /proc/loadavg's first three fields:
	// other work on the machine makes the figures noisy.
	LoadAvgStart string `json:"loadavg_start,omitempty"`
	LoadAvgEnd   string `json:"loadavg_end,omitempty"`
}

// report is everything the harness prints and writes.
type report struct {
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Host     hostInfo       `json:"host"`
	Options  map[string]any `json:"options"`
	Runs     []runResult    `json:"runs"`
	Summary  []summaryRow   `json:"summary"`
	Targets  []targetCheck  `json:"targets,omitempty"`
	// Builds names each dispatcher binary (dispatcher's and the
	// baseline's) and the commit it was built from.
	Builds map[string]string `json:"builds,omitempty"`

	suts []string
	// steps are the targets scenario's steps, when it runs (targets.go).
	steps []targetsStep
}

func newReport(o options) *report {
	rep := &report{
		Started: time.Now(),
		Host: hostInfo{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
			GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(), LoadAvgStart: loadAvg()},
		Options: map[string]any{
			"repeats": o.repeats, "scenarios": o.scenarios, "suts": o.suts,
			"n_drain": o.nDrain, "rate": o.rate, "rate_duration": o.rateDuration.String(),
			"n_isolation_fast": o.nIsoFast, "n_isolation_hole": o.nIsoHole,
			"isolation_timeout": o.isoTimeout.String(), "n_flaky": o.nFlaky, "flaky_p": o.flakyP, "flaky_seed": o.flakySeed,
			"flaky_timeout": o.flakyTimeout.String(), "n_scaleout": o.nScaleout,
			"scaleout_delay": o.scaleoutDelay.String(), "scaleout_concurrency": o.scaleoutConcurrency, "quick": o.quick,
			"dispatcher_bin": o.dispatcher, "baseline_bin": o.baseline,
		},
		Runs: []runResult{},
		suts: o.suts,
	}
	if slices.Contains(o.scenarios, scTargets) {
		rep.steps = targetsSteps(o)
		for k, v := range map[string]any{
			"targets_sizes": o.targetsSizes, "n_targets_jobs": o.nTargetsJobs, "targets_hot": o.targetsHot,
			"targets_hot_among": o.targetsHotAmong, "targets_isolation": o.targetsIsolation, "n_targets_sick": o.nTargetsSick,
			"targets_ready_timeout": o.targetsReadyTimeout.String(), "targets_timeout": o.targetsTimeout.String(),
			"targets_idle": o.targetsIdle.String(), "nats_max_consumers": o.natsMaxConsumers,
		} {
			rep.Options[k] = v
		}
	}
	return rep
}

func (rep *report) add(r runResult) { rep.Runs = append(rep.Runs, r) }

// metric returns one run's metric.
func (rep *report) metric(sc, sut string, repeat int, key string) (float64, bool) {
	for _, r := range rep.Runs {
		if r.Scenario == sc && r.SUT == sut && r.Repeat == repeat && r.Error == "" {
			v, ok := r.Metrics[key]
			return v, ok
		}
	}
	return 0, false
}

func (rep *report) failed() bool {
	return slices.ContainsFunc(rep.Runs, func(r runResult) bool { return r.Error != "" })
}

// finish computes the summary and the target checks.
func (rep *report) finish() {
	rep.Finished = time.Now()
	rep.Host.LoadAvgEnd = loadAvg()
	rep.Summary = nil
	for _, d := range append(slices.Clone(metricDefs), targetsDefs(rep.steps)...) {
		row := summaryRow{Key: d.Key, Label: d.Label, SUTs: map[string]*spread{}}
		for _, sut := range rep.suts {
			var vals []float64
			for _, r := range rep.Runs {
				if v, ok := r.Metrics[d.Key]; ok && r.SUT == sut && r.Error == "" {
					vals = append(vals, v)
				}
			}
			if len(vals) > 0 {
				row.SUTs[sut] = newSpread(vals)
			}
		}
		if len(row.SUTs) == 0 {
			continue
		}
		row.Ratio = medianRatio(row.SUTs[sutDispatcher], row.SUTs[sutNaive])
		row.RatioBaseline = medianRatio(row.SUTs[sutDispatcher], row.SUTs[sutBaseline])
		if slices.Contains(everyRepeatKeys, d.Key) {
			row.Repeats = rep.everyRepeat(d.Key)
		}
		rep.Summary = append(rep.Summary, row)
	}
	rep.Targets = rep.checkTargets()
}

// everyRepeat returns key's figure of every repeat that has one, repeat by
// repeat.
func (rep *report) everyRepeat(key string) []repeatFigures {
	var out []repeatFigures
	for i := 1; i <= rep.repeats(); i++ {
		f := repeatFigures{Repeat: i, SUTs: map[string]float64{}}
		for _, r := range rep.Runs {
			if v, ok := r.Metrics[key]; ok && r.Repeat == i && r.Error == "" {
				f.SUTs[r.SUT] = v
			}
		}
		if len(f.SUTs) == 0 {
			continue
		}
		f.Ratio = figureRatio(f.SUTs, sutDispatcher, sutNaive)
		f.RatioBaseline = figureRatio(f.SUTs, sutDispatcher, sutBaseline)
		out = append(out, f)
	}
	return out
}

// medianRatio is a's median over b's, nil unless both ran and b's is not 0.
func medianRatio(a, b *spread) *float64 {
	if a == nil || b == nil || b.Median == 0 {
		return nil
	}
	ratio := a.Median / b.Median
	return &ratio
}

// figureRatio is figs[a] over figs[b], nil unless both are there and
// figs[b] is not 0.
func figureRatio(figs map[string]float64, a, b string) *float64 {
	x, okA := figs[a]
	y, okB := figs[b]
	if !okA || !okB || y == 0 {
		return nil
	}
	ratio := x / y
	return &ratio
}

// ratioColumn is a column of dispatcher's figure over another system's.
type ratioColumn struct {
	header string
	of     func(*summaryRow) *float64
	ofRep  func(*repeatFigures) *float64
}

// ratioColumns are the ratio columns of the table: dispatcher ÷ naive and
// dispatcher ÷ baseline, each when both systems ran.
func (rep *report) ratioColumns() []ratioColumn {
	var cols []ratioColumn
	if slices.Contains(rep.suts, sutDispatcher) && slices.Contains(rep.suts, sutNaive) {
		cols = append(cols, ratioColumn{"dispatcher/naive",
			func(r *summaryRow) *float64 { return r.Ratio },
			func(f *repeatFigures) *float64 { return f.Ratio }})
	}
	if slices.Contains(rep.suts, sutDispatcher) && slices.Contains(rep.suts, sutBaseline) {
		cols = append(cols, ratioColumn{"dispatcher/baseline",
			func(r *summaryRow) *float64 { return r.RatioBaseline },
			func(f *repeatFigures) *float64 { return f.RatioBaseline }})
	}
	return cols
}

// fmtRatio prints a ratio column's cell.
func fmtRatio(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f×", *v)
}

func newSpread(vals []float64) *spread {
	s := slices.Clone(vals)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &spread{Median: med, Min: s[0], Max: s[len(s)-1], Values: vals}
}

func (rep *report) row(key string) *summaryRow {
	for i := range rep.Summary {
		if rep.Summary[i].Key == key {
			return &rep.Summary[i]
		}
	}
	return nil
}

// checkTargets evaluates issue 3's targets on the medians (and on the worst
// run for "nothing lost/missing").
func (rep *report) checkTargets() []targetCheck {
	var out []targetCheck
	get := func(key, sut string) *spread {
		if r := rep.row(key); r != nil {
			return r.SUTs[sut]
		}
		return nil
	}
	ratio := func(key string) (float64, bool) {
		if r := rep.row(key); r != nil && r.Ratio != nil {
			return *r.Ratio, true
		}
		return 0, false
	}
	if v, ok := ratio("drain.jobs_per_s"); ok {
		out = append(out, targetCheck{"drain jobs/s ≥ 1.0 × naive", fmt.Sprintf("%.2f×", v), v >= 1.0})
	}
	if v, ok := ratio("drain.cpu_s_per_1k"); ok {
		out = append(out, targetCheck{"drain CPU per job ≤ 1.15 × naive", fmt.Sprintf("%.2f×", v), v <= 1.15})
	}
	if d := get("drain.peak_rss_mib", sutDispatcher); d != nil {
		out = append(out, targetCheck{"drain peak RSS ≤ 64 MiB", fmt.Sprintf("%.1f MiB (max %.1f)", d.Median, d.Max), d.Median <= 64})
	}
	if n, d := get("rate.p99_ms", sutNaive), get("rate.p99_ms", sutDispatcher); n != nil && d != nil {
		out = append(out, targetCheck{"rate p99 ≤ naive p99 + 2 ms", fmt.Sprintf("%.2f ms vs %.2f ms", d.Median, n.Median), d.Median <= n.Median+2})
	}
	if d := get("rate.lost", sutDispatcher); d != nil {
		out = append(out, targetCheck{"rate: nothing lost", fmt.Sprintf("max %.0f lost", d.Max), d.Max == 0})
	}
	if d := get("isolation.ratio", sutDispatcher); d != nil {
		out = append(out, targetCheck{"isolation ≥ 0.9 (÷ drain jobs/s, the issue's ratio)", fmt.Sprintf("%.3f (min %.3f)", d.Median, d.Min), d.Median >= 0.9})
	}
	if d := get("isolation.ratio_alone", sutDispatcher); d != nil {
		out = append(out, targetCheck{"isolation ≥ 0.9 (÷ the same healthy jobs alone)", fmt.Sprintf("%.3f (min %.3f)", d.Median, d.Min), d.Median >= 0.9})
	}
	if d := get("flaky.missing", sutDispatcher); d != nil {
		out = append(out, targetCheck{"flaky: every job delivered or dead-lettered", fmt.Sprintf("max %.0f missing", d.Max), d.Max == 0})
	}
	if v, ok := ratio("flaky.seconds"); ok {
		t := targetCheck{"flaky time ≤ 1.5 × naive", fmt.Sprintf("%.2f×", v), v <= 1.5}
		if d := get("flaky.missing", sutDispatcher); d != nil && d.Max > 0 {
			t.Value, t.Met = fmt.Sprintf("%.2f×, but not comparable: jobs missing", v), false
		}
		out = append(out, t)
	}
	if d := get("flaky_random.missing", sutDispatcher); d != nil {
		out = append(out, targetCheck{"flaky-random: every job delivered (issue 12)", fmt.Sprintf("max %.0f missing", d.Max), d.Max == 0})
	}
	if d := get("scaleout.ratio", sutDispatcher); d != nil {
		out = append(out, targetCheck{"scaleout: two instances ≥ 1.8 × one (not issue 3's)", fmt.Sprintf("%.2f× (min %.2f×)", d.Median, d.Min), d.Median >= 1.8})
	}
	return append(out, rep.targetsChecks()...)
}

// print writes the table, the target checks and the notes.
func (rep *report) print(w io.Writer) {
	fmt.Fprintf(w, "\ndispatcher benchmark — %s, %d CPUs, %s %s/%s, %d repeat(s), medians (min–max)",
		rep.Started.Format("2006-01-02"), rep.Host.CPUs, rep.Host.GoVersion, rep.Host.GOOS, rep.Host.GOARCH, rep.repeats())
	cols := rep.ratioColumns()
	if len(cols) > 0 {
		fmt.Fprint(w, ", ratios of the medians")
	}
	fmt.Fprintln(w)
	if rep.Builds[sutBaseline] != "" {
		for _, sut := range []string{sutDispatcher, sutBaseline} {
			if b := rep.Builds[sut]; b != "" {
				fmt.Fprintf(w, "%-10s  %s\n", sut, b)
			}
		}
	}
	// The targets scenario's rows have tables of their own (printTargets):
	// without other rows there is no main table.
	table := io.Writer(io.Discard)
	if slices.ContainsFunc(rep.Summary, func(r summaryRow) bool { return !isTargetsStep(r.Key) }) {
		table = w
	}
	fmt.Fprintln(table)
	tw := tabwriter.NewWriter(table, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "metric")
	for _, sut := range rep.suts {
		fmt.Fprintf(tw, "\t%s", sut)
	}
	for _, c := range cols {
		fmt.Fprintf(tw, "\t%s", c.header)
	}
	fmt.Fprintln(tw)
	for i := range rep.Summary {
		row := &rep.Summary[i]
		if isTargetsStep(row.Key) {
			continue
		}
		fmt.Fprint(tw, row.Label)
		for _, sut := range rep.suts {
			fmt.Fprintf(tw, "\t%s", row.SUTs[sut].String())
		}
		for _, c := range cols {
			fmt.Fprintf(tw, "\t%s", fmtRatio(c.of(row)))
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	rep.printRepeats(w, cols)
	rep.printTargets(w, cols)

	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets (dispatcher; issue 3's unless marked):")
		width := 45
		for _, t := range rep.Targets {
			width = max(width, utf8.RuneCountInString(t.Target))
		}
		for _, t := range rep.Targets {
			mark := "met   "
			if !t.Met {
				mark = "MISSED"
			}
			fmt.Fprintf(w, "  %s  %-*s %s\n", mark, width, t.Target, t.Value)
		}
	}
	// The same note of several repeats is printed once, with the repeats.
	var notes []string
	repeats := map[string][]string{}
	for _, r := range rep.Runs {
		var texts []string
		if r.Error != "" {
			texts = append(texts, "FAILED: "+r.Error)
		}
		texts = append(texts, r.Notes...)
		for _, t := range texts {
			key := r.Scenario + " " + r.SUT + ": " + t
			if _, seen := repeats[key]; !seen {
				notes = append(notes, key)
			}
			repeats[key] = append(repeats[key], fmt.Sprint("#", r.Repeat))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range notes {
			fmt.Fprintf(w, "  %s (%s)\n", n, strings.Join(repeats[n], ","))
		}
	}
	if rep.Host.LoadAvgStart != "" {
		fmt.Fprintf(w, "\nload average at start: %s; at end: %s\n", rep.Host.LoadAvgStart, rep.Host.LoadAvgEnd)
	}
	fmt.Fprintf(w, "\ntotal %s\n", rep.Finished.Sub(rep.Started).Round(time.Second))
}

// printRepeats writes the rows of everyRepeatKeys repeat by repeat (the
// systems ran in the order runOrder gives: with two, A B in odd repeats,
// B A in even ones).
func (rep *report) printRepeats(w io.Writer, cols []ratioColumn) {
	for _, row := range rep.Summary {
		if len(row.Repeats) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s, every repeat:\n", row.Label)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, "  repeat")
		for _, sut := range rep.suts {
			fmt.Fprintf(tw, "\t%s", sut)
		}
		for _, c := range cols {
			fmt.Fprintf(tw, "\t%s", c.header)
		}
		fmt.Fprintln(tw)
		for i := range row.Repeats {
			f := &row.Repeats[i]
			fmt.Fprintf(tw, "  #%d", f.Repeat)
			for _, sut := range rep.suts {
				if v, ok := f.SUTs[sut]; ok {
					fmt.Fprintf(tw, "\t%s", fmtNum(v))
				} else {
					fmt.Fprint(tw, "\t-")
				}
			}
			for _, c := range cols {
				fmt.Fprintf(tw, "\t%s", fmtRatio(c.ofRep(f)))
			}
			fmt.Fprintln(tw)
		}
		_ = tw.Flush()
	}
}

func (rep *report) repeats() int {
	n := 0
	for _, r := range rep.Runs {
		n = max(n, r.Repeat)
	}
	return n
}

func (s *spread) String() string {
	if s == nil {
		return "-"
	}
	if len(s.Values) == 1 || s.Min == s.Max {
		return fmtNum(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNum(s.Median), fmtNum(s.Min), fmtNum(s.Max))
}

// fmtNum prints a figure with a precision fitting its size.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		return fmt.Sprint(v)
	case v == math.Trunc(v) && a < 1e7:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func (rep *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// msgBudgetPostponed is the message dispatcher logs (at info) for each
// retry the retry budget postpones (worker/budget.go).
const msgBudgetPostponed = "retry postponed: over the retry budget"

// logSummary counts dispatcher's log lines by level, and warnings and
// errors by message.
type logSummary struct {
	Lines        int            `json:"lines"`
	ByLevel      map[string]int `json:"by_level"`
	Messages     map[string]int `json:"warn_error_messages,omitempty"` // "level: msg" → count
	BreakerOpens int            `json:"breaker_opens"`
	// BudgetPostponed counts the retries the retry budget postponed.
	BudgetPostponed int `json:"budget_postponed"`
	Unparsed        int `json:"unparsed,omitempty"`
}

func summariseLog(path string) *logSummary {
	s := &logSummary{ByLevel: map[string]int{}, Messages: map[string]int{}}
	b, err := os.ReadFile(path)
	if err != nil {
		return s
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		s.Lines++
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			To    string `json:"to"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Level == "" {
			s.Unparsed++
			continue
		}
		s.ByLevel[e.Level]++
		if e.Level != "info" && e.Level != "debug" {
			s.Messages[e.Level+": "+e.Msg]++
		}
		switch {
		case e.Msg == "breaker state change" && e.To == "open":
			s.BreakerOpens++
		case e.Msg == msgBudgetPostponed:
			s.BudgetPostponed++
		}
	}
	return s
}

func (s *logSummary) notes() []string {
	if s == nil || s.Lines == 0 {
		return nil
	}
	levels := make([]string, 0, len(s.ByLevel))
	for l, n := range s.ByLevel {
		levels = append(levels, fmt.Sprintf("%s %d", l, n))
	}
	slices.Sort(levels)
	var out []string
	if s.Lines > 100 {
		out = append(out, fmt.Sprintf("dispatcher log: %d lines (%s)", s.Lines, strings.Join(levels, ", ")))
	}
	msgs := make([]string, 0, len(s.Messages))
	for m := range s.Messages {
		msgs = append(msgs, m)
	}
	slices.SortFunc(msgs, func(a, b string) int { return s.Messages[b] - s.Messages[a] })
	for _, m := range msgs[:min(len(msgs), 5)] {
		out = append(out, fmt.Sprintf("dispatcher log: %q ×%d", m, s.Messages[m]))
	}
	if s.BreakerOpens > 0 {
		out = append(out, fmt.Sprintf("dispatcher log: breaker opened %d×", s.BreakerOpens))
	}
	if s.BudgetPostponed > 0 {
		out = append(out, fmt.Sprintf("dispatcher log: %d retries postponed by the retry budget", s.BudgetPostponed))
	}
	if s.Unparsed > 0 {
		out = append(out, fmt.Sprintf("dispatcher log: %d lines not JSON", s.Unparsed))
	}
	return out
}

// loadAvg is the 1, 5 and 15 minute load average, where /proc has it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
