package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// targetsRows are the rows of each step's table: the metric (its key is
// "<step>.<metric>") and its label, in order. A row with no figure in a
// step is left out of its table.
var targetsRows = []metricDef{
	{"ready_s", "ready s (start → /readyz 200; naive: its ready line)"},
	{"idle_rss_mib", "idle RSS MiB (ready, then idle)"},
	{"idle_kb_per_target", "idle kB per target past the first (RSS − 1 target's) ÷ (N − 1)"},
	{"goroutines", "goroutines, idle (go_goroutines)"},
	{"idle_cpu_pct", "idle CPU % of a core"},
	{"nats_idle_cpu_pct", "nats-server idle CPU % of a core"},
	{"jobs_per_s", "jobs/s (first → last receipt)"},
	{"jobs_per_s_vs_1", "jobs/s ÷ 1 target's"},
	{"p50_s", "s from the first publish until 50% delivered"},
	{"p99_s", "s from the first publish until 99% delivered"},
	{"all_s", "s from the first publish until all delivered (or given up)"},
	{"ratio", "healthy jobs/s ÷ the same without the sick targets"},
	{"sick_s", "s until the sick were sick (hole holding, breakers open)"},
	{"cpu_us_per_job", "CPU µs per job (publish → last receipt)"},
	{"cpu_us_per_job_vs_1", "CPU per job ÷ 1 target's"},
	{"nats_cpu_us_per_job", "nats-server CPU µs per job (same window)"},
	{"nats_cpu_us_per_job_vs_1", "nats-server CPU per job ÷ 1 target's"},
	{"peak_rss_mib", "peak RSS MiB"},
	{"nats_idle_rss_mib", "nats-server RSS MiB, idle"},
	{"nats_peak_rss_mib", "nats-server peak RSS MiB"},
	{"publish_s", "s to publish every job (all acked)"},
	{"stop_s", "s from SIGTERM to exit"},
	{"missing", "jobs not delivered in time"},
}

// targetsDefs are the summary rows of the steps.
func targetsDefs(steps []targetsStep) []metricDef {
	var out []metricDef
	for _, st := range steps {
		for _, d := range targetsRows {
			out = append(out, metricDef{st.name + "." + d.Key, st.name + ": " + d.Label})
		}
	}
	return out
}

// notReady counts sut's runs of a step that were not ready in time, and its
// runs of the step in all.
func (rep *report) notReady(step, sut string) (k, n int) {
	for _, r := range rep.Runs {
		if r.Scenario != step || r.SUT != sut {
			continue
		}
		n++
		if r.Metrics[step+".not_ready"] == 1 {
			k++
		}
	}
	return k, n
}

// printTargets writes a table per step of the targets scenario: its rows
// for every system, with the ratio columns of the main table.
func (rep *report) printTargets(w io.Writer, cols []ratioColumn) {
	if len(rep.steps) == 0 {
		return
	}
	fmt.Fprintf(w, "\ntargets scenario (issue 14): each step on a fresh nats-server; %s jobs published once ready; medians (min–max)\n",
		fmtCount(rep.stepJobs()))
	for _, st := range rep.steps {
		suts := slices.DeleteFunc(slices.Clone(rep.suts), func(sut string) bool {
			_, n := rep.notReady(st.name, sut)
			return n == 0
		})
		if len(suts) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", st.title())
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, "  metric")
		for _, sut := range suts {
			fmt.Fprintf(tw, "\t%s", sut)
		}
		for _, c := range cols {
			fmt.Fprintf(tw, "\t%s", c.header)
		}
		fmt.Fprintln(tw)
		for _, d := range targetsRows {
			row := rep.row(st.name + "." + d.Key)
			if d.Key == "ready_s" {
				rep.printReadyRow(tw, st, row, suts, cols, d.Label)
				continue
			}
			if row == nil {
				continue
			}
			fmt.Fprintf(tw, "  %s", d.Label)
			for _, sut := range suts {
				fmt.Fprintf(tw, "\t%s", row.SUTs[sut].String())
			}
			for _, c := range cols {
				fmt.Fprintf(tw, "\t%s", fmtRatio(c.of(row)))
			}
			fmt.Fprintln(tw)
		}
		_ = tw.Flush()
	}
}

// printReadyRow writes the ready row, saying how many runs were not ready
// within the timeout.
func (rep *report) printReadyRow(tw io.Writer, st targetsStep, row *summaryRow, suts []string, cols []ratioColumn, label string) {
	fmt.Fprintf(tw, "  %s", label)
	for _, sut := range suts {
		var cell []string
		if row != nil && row.SUTs[sut] != nil {
			cell = append(cell, row.SUTs[sut].String())
		}
		if k, n := rep.notReady(st.name, sut); k > 0 {
			cell = append(cell, fmt.Sprintf("%d of %d not ready (see notes)", k, n))
		}
		if len(cell) == 0 {
			cell = append(cell, "-")
		}
		fmt.Fprintf(tw, "\t%s", strings.Join(cell, "; "))
	}
	for _, c := range cols {
		if row == nil {
			fmt.Fprint(tw, "\t-")
		} else {
			fmt.Fprintf(tw, "\t%s", fmtRatio(c.of(row)))
		}
	}
	fmt.Fprintln(tw)
}

// stepJobs is the healthy jobs of every step.
func (rep *report) stepJobs() int {
	if len(rep.steps) == 0 {
		return 0
	}
	return rep.steps[0].jobs
}

// targetsChecks evaluates issue 14's targets on dispatcher's medians.
func (rep *report) targetsChecks() []targetCheck {
	var out []targetCheck
	get := func(step, key string) *spread {
		if r := rep.row(step + "." + key); r != nil {
			return r.SUTs[sutDispatcher]
		}
		return nil
	}
	var largest targetsStep
	for _, st := range rep.steps {
		switch {
		case st.kind == tkSize && st.n == 1000:
			if d := get(st.name, "jobs_per_s_vs_1"); d != nil {
				out = append(out, targetCheck{"1,000 targets: jobs/s ≥ 0.8 × 1 target's (issue 14)", fmt.Sprintf("%.2f× (min %.2f×)", d.Median, d.Min), d.Median >= 0.8})
			}
			if d := get(st.name, "nats_cpu_us_per_job_vs_1"); d != nil {
				out = append(out, targetCheck{"1,000 targets: nats-server CPU/job ≤ 2 × 1 target's (issue 14)", fmt.Sprintf("%.2f× (max %.2f×)", d.Median, d.Max), d.Median <= 2})
			}
		case st.kind == tkSize && st.n == 10000:
			k, n := rep.notReady(st.name, sutDispatcher)
			if d := get(st.name, "ready_s"); d != nil || k > 0 {
				t := targetCheck{Target: "10,000 targets: ready ≤ 5 s (issue 14)"}
				if d != nil {
					t.Value, t.Met = fmt.Sprintf("%.2f s (max %.2f s)", d.Median, d.Max), d.Median <= 5
				}
				if k > 0 {
					t.Value = strings.TrimPrefix(t.Value+fmt.Sprintf("; %d of %d not ready (see notes)", k, n), "; ")
					t.Met = false
				}
				out = append(out, t)
			}
			if d := get(st.name, "peak_rss_mib"); d != nil {
				idle := ""
				if i := get(st.name, "idle_rss_mib"); i != nil {
					idle = fmt.Sprintf(", idle %.0f MiB", i.Median)
				}
				out = append(out, targetCheck{"10,000 targets: peak RSS ≤ 256 MB = 244 MiB (issue 14)",
					fmt.Sprintf("%.0f MiB (max %.0f%s)", d.Median, d.Max, idle), d.Median <= 256e6/(1<<20)})
			}
		}
		if st.kind == tkSize && st.n > 1 && get(st.name, "idle_kb_per_target") != nil {
			largest = st
		}
		if st.kind == tkIsolation {
			if d := get(st.name, "ratio"); d != nil {
				out = append(out, targetCheck{"targets isolation: healthy ≥ 0.9 × without the sick (issue 14)", fmt.Sprintf("%.3f (min %.3f)", d.Median, d.Min), d.Median >= 0.9})
			}
		}
	}
	if largest.n > 0 {
		d := get(largest.name, "idle_kb_per_target")
		out = append(out, targetCheck{fmt.Sprintf("%s targets: idle ≤ 20 kB per target (issue 14)", fmtCount(largest.n)),
			fmt.Sprintf("%.1f kB (max %.1f)", d.Median, d.Max), d.Median <= 20})
	}
	if r := rep.row(targetsOne + ".jobs_per_s"); r != nil && r.SUTs[sutDispatcher] != nil && r.SUTs[sutBaseline] != nil {
		d, b := r.SUTs[sutDispatcher], r.SUTs[sutBaseline]
		out = append(out, targetCheck{"1 target: jobs/s unchanged within noise (≥ the baseline's min; issue 14)",
			fmt.Sprintf("%.0f vs baseline %.0f (%.0f–%.0f)", d.Median, b.Median, b.Min, b.Max), d.Median >= b.Min})
	}
	return out
}

// targetsHeadline is the line printed after a run of a targets step.
func targetsHeadline(step string, m map[string]float64) string {
	k := step + "."
	if m[k+"not_ready"] == 1 {
		return "not ready (see notes)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ready %.2f s, idle %.1f MiB", m[k+"ready_s"], m[k+"idle_rss_mib"])
	if g, ok := m[k+"goroutines"]; ok {
		fmt.Fprintf(&b, ", %.0f goroutines", g)
	}
	fmt.Fprintf(&b, ", %.0f jobs/s (99%% by %.1f s, all by %.1f s), CPU %.0f µs/job, nats-server %.0f µs/job, peak %.1f MiB",
		m[k+"jobs_per_s"], m[k+"p99_s"], m[k+"all_s"], m[k+"cpu_us_per_job"], m[k+"nats_cpu_us_per_job"], m[k+"peak_rss_mib"])
	if v, ok := m[k+"jobs_per_s_vs_1"]; ok {
		fmt.Fprintf(&b, ", jobs/s %.2f× 1 target's", v)
	}
	if v, ok := m[k+"ratio"]; ok {
		fmt.Fprintf(&b, ", %.3f× without the sick", v)
	}
	return b.String()
}
