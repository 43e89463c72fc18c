package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestReportEveryRepeat(t *testing.T) {
	rep := &report{suts: []string{sutNaive, sutDispatcher}}
	add := func(sut string, repeat int, secs float64, errText string) {
		rep.add(runResult{Scenario: scFlakyRandom, SUT: sut, Repeat: repeat, Error: errText,
			Metrics: map[string]float64{"flaky_random.seconds": secs, "flaky_random.delivered": 20000, "flaky_random.missing": 0}})
	}
	add(sutNaive, 1, 9, "")
	add(sutDispatcher, 1, 63, "")
	add(sutDispatcher, 2, 4.5, "")
	add(sutNaive, 2, 9, "")
	add(sutNaive, 3, 10, "")
	add(sutDispatcher, 3, 70, "boom") // a failed run counts nowhere
	rep.finish()

	row := rep.row("flaky_random.seconds")
	if row == nil {
		t.Fatal("no flaky_random.seconds row")
	}
	if len(row.Repeats) != 3 {
		t.Fatalf("repeats = %+v, want 3", row.Repeats)
	}
	for i, want := range []float64{7, 0.5, -1} {
		f := row.Repeats[i]
		switch {
		case f.Repeat != i+1:
			t.Errorf("repeats[%d].Repeat = %d", i, f.Repeat)
		case want < 0 && f.Ratio != nil:
			t.Errorf("repeat %d: ratio %v without dispatcher's figure", f.Repeat, *f.Ratio)
		case want >= 0 && (f.Ratio == nil || *f.Ratio != want):
			t.Errorf("repeat %d: ratio %v, want %v", f.Repeat, f.Ratio, want)
		}
	}
	if rep.row("flaky_random.missing").Repeats != nil {
		t.Error("missing is not an every-repeat row")
	}

	var b bytes.Buffer
	rep.print(&b)
	out := b.String()
	for _, want := range []string{"every repeat:", "#1      9      63          7.00×", "#2      9      4.50        0.50×", "#3      10     -           -"} {
		if !strings.Contains(out, want) {
			t.Errorf("printed report lacks %q:\n%s", want, out)
		}
	}
}

func TestReportBaseline(t *testing.T) {
	rep := &report{suts: []string{sutNaive, sutDispatcher, sutBaseline}}
	add := func(sc, sut string, repeat int, key string, v float64) {
		rep.add(runResult{Scenario: sc, SUT: sut, Repeat: repeat, Metrics: map[string]float64{key: v}})
	}
	for i, v := range []float64{10000, 12000, 11000} {
		add(scDrain, sutNaive, i+1, "drain.jobs_per_s", v)
	}
	for i, v := range []float64{13000, 15000, 14000} {
		add(scDrain, sutDispatcher, i+1, "drain.jobs_per_s", v)
	}
	for i, v := range []float64{10000, 14000, 12000} {
		add(scDrain, sutBaseline, i+1, "drain.jobs_per_s", v)
	}
	add(scFlakyRandom, sutNaive, 1, "flaky_random.seconds", 10)
	add(scFlakyRandom, sutDispatcher, 1, "flaky_random.seconds", 5)
	add(scFlakyRandom, sutBaseline, 1, "flaky_random.seconds", 20)
	add(scScaleout, sutDispatcher, 1, "scaleout.ratio", 1.9)
	add(scScaleout, sutBaseline, 1, "scaleout.ratio", 1.8)
	rep.finish()

	drain := rep.row("drain.jobs_per_s")
	if drain == nil || drain.SUTs[sutBaseline] == nil || drain.SUTs[sutBaseline].Median != 12000 {
		t.Fatalf("drain row lacks the baseline's median 12000: %+v", drain)
	}
	// Ratios of the medians: 14000 ÷ 11000 and 14000 ÷ 12000.
	if drain.Ratio == nil || *drain.Ratio != 14000.0/11000 {
		t.Errorf("dispatcher/naive = %v, want %v", drain.Ratio, 14000.0/11000)
	}
	if drain.RatioBaseline == nil || *drain.RatioBaseline != 14000.0/12000 {
		t.Errorf("dispatcher/baseline = %v, want %v", drain.RatioBaseline, 14000.0/12000)
	}
	so := rep.row("scaleout.ratio")
	if so.Ratio != nil || so.RatioBaseline == nil || *so.RatioBaseline != 1.9/1.8 {
		t.Errorf("scaleout: ratios %v, %v: want none over naive, 1.9/1.8 over baseline", so.Ratio, so.RatioBaseline)
	}
	fr := rep.row("flaky_random.seconds")
	if len(fr.Repeats) != 1 || fr.Repeats[0].SUTs[sutBaseline] != 20 || fr.Repeats[0].RatioBaseline == nil || *fr.Repeats[0].RatioBaseline != 0.25 {
		t.Errorf("flaky_random every repeat lacks the baseline: %+v", fr.Repeats)
	}

	var b bytes.Buffer
	rep.print(&b)
	out := b.String()
	for _, want := range []string{
		"naive  dispatcher  baseline  dispatcher/naive  dispatcher/baseline",
		"14000 (13000–15000)", "12000 (10000–14000)", "1.27×", "1.17×",
		"repeat  naive  dispatcher  baseline  dispatcher/naive  dispatcher/baseline",
		"#1      10     5           20        0.50×             0.25×",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printed report lacks %q:\n%s", want, out)
		}
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"baseline":{"median":12000`, `"ratio_dispatcher_over_baseline":1.1666`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

func TestRunOrder(t *testing.T) {
	two := []string{"A", "B"}
	for r, want := range []string{"AB", "BA", "AB", "BA"} {
		if got := strings.Join(runOrder(two, r), ""); got != want {
			t.Errorf("two systems, repeat %d: %s, want %s", r+1, got, want)
		}
	}
	three := []string{"A", "B", "C"}
	var got []string
	for r := range 12 {
		got = append(got, strings.Join(runOrder(three, r), ""))
	}
	if want := "ABC BCA CAB CBA ACB BAC ABC BCA CAB CBA ACB BAC"; strings.Join(got, " ") != want {
		t.Errorf("three systems: %s, want %s", strings.Join(got, " "), want)
	}
	// Every 3 repeats each system takes each place once; every 6 each
	// follows each other one equally often.
	for start := 0; start < 12; start += 3 {
		for pos := range 3 {
			seen := map[byte]bool{}
			for _, o := range got[start : start+3] {
				seen[o[pos]] = true
			}
			if len(seen) != 3 {
				t.Errorf("repeats %d–%d: place %d taken by %d systems, want 3", start+1, start+3, pos+1, len(seen))
			}
		}
	}
	pairs := map[string]int{}
	for _, o := range got[:6] {
		pairs[o[:2]]++
		pairs[o[1:]]++
	}
	for p, n := range pairs {
		if n != 2 {
			t.Errorf("over 6 repeats %s ran back to back %d times, want 2 (%v)", p, n, pairs)
		}
	}
	if len(pairs) != 6 {
		t.Errorf("pairs %v, want all 6", pairs)
	}
	if got := runOrder([]string{"A"}, 3); len(got) != 1 || got[0] != "A" {
		t.Errorf("one system: %v", got)
	}
}

func TestParseOptionsBaseline(t *testing.T) {
	for _, c := range []struct {
		args []string
		suts string // "" = an error
	}{
		{nil, "naive,dispatcher"},
		{[]string{"-baseline-bin", "/x"}, "naive,dispatcher,baseline"},
		{[]string{"-baseline-bin", "/x", "-suts", "dispatcher"}, "dispatcher,baseline"},
		{[]string{"-baseline-bin", "/x", "-suts", "baseline,dispatcher"}, "dispatcher,baseline"},
		{[]string{"-suts", "dispatcher,baseline"}, ""},
	} {
		o, err := parseOptions(c.args, io.Discard)
		switch {
		case c.suts == "" && err == nil:
			t.Errorf("%q: no error", c.args)
		case c.suts != "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.suts != "" && strings.Join(o.suts, ",") != c.suts:
			t.Errorf("%q: suts %v, want %s", c.args, o.suts, c.suts)
		}
	}
}
