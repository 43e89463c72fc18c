package main

import (
	"bytes"
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
