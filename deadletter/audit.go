package deadletter

import "github.com/jetdispatch/dispatcher/schemas"

// AuditFilter is the filter an audit record's selection of dead letters
// records (the inverse of audit.Selection): dispatcher audit ls and the
// console's audit page describe selections with it. A status the record
// holds that ParseStatus refuses is left out; Target (a pause's or a
// resume's) and All are not filters and are not read.
func AuditFilter(s schemas.AuditSelection) Filter {
	f := Filter{Targets: s.Targets, Reasons: s.Reasons, Classes: s.Classes, JobIDs: s.JobIDs, Seqs: s.Seqs, Text: s.Text}
	for _, v := range s.Statuses {
		if r, err := ParseStatus(v); err == nil {
			f.Statuses = append(f.Statuses, r)
		}
	}
	if s.Since != nil {
		f.Since = *s.Since
	}
	if s.Until != nil {
		f.Until = *s.Until
	}
	return f
}
