package deadletter

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Describe says in words what f selects, e.g. "target payments, reason
// exhausted, since 2026-11-26T08:01:44Z"; "all" for the zero Filter. The
// command line and the console show selections with it.
func (f *Filter) Describe() string {
	var parts []string
	add := func(name string, vs []string) {
		if len(vs) > 0 {
			parts = append(parts, name+" "+strings.Join(vs, ","))
		}
	}
	add("target", f.Targets)
	add("reason", f.Reasons)
	add("class", f.Classes)
	var sts []string
	for _, s := range f.Statuses {
		sts = append(sts, s.String())
	}
	add("status", sts)
	add("job id", f.JobIDs)
	if f.Text != "" {
		parts = append(parts, "text "+strconv.Quote(f.Text))
	}
	if !f.Since.IsZero() {
		parts = append(parts, "since "+f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "until "+f.Until.UTC().Format(time.RFC3339))
	}
	if len(f.Seqs) > 0 {
		var ss []string
		for _, s := range f.Seqs {
			ss = append(ss, strconv.FormatUint(s, 10))
		}
		add("seq", ss)
	}
	if f.Limit > 0 {
		parts = append(parts, fmt.Sprintf("first %d", f.Limit))
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, ", ")
}
