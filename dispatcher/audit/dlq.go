package audit

import (
	"fmt"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

// The records of a replay and a purge of dead letters, as the command line
// (dispatcher dlq replay, purge) and the console make them: one way, so
// that dispatcher audit ls reads both alike.

// Selection is a dead-letter filter as an audit record's selection; all
// says the selection was every record (--all).
func Selection(f deadletter.Filter, all bool) schemas.AuditSelection {
	s := schemas.AuditSelection{Targets: f.Targets, Reasons: f.Reasons, Classes: f.Classes, JobIDs: f.JobIDs, Seqs: f.Seqs,
		Text: f.Text, All: all}
	for _, r := range f.Statuses {
		s.Statuses = append(s.Statuses, r.String())
	}
	if !f.Since.IsZero() {
		t := f.Since.UTC()
		s.Since = &t
	}
	if !f.Until.IsZero() {
		t := f.Until.UTC()
		s.Until = &t
	}
	return s
}

// Result is the result of an action on a selection of n items of which
// done were dealt with, ending with err: ok, partial or failed.
func Result(done, n int, err error) string {
	switch {
	case err == nil && done >= n:
		return schemas.AuditOK
	case done > 0:
		return schemas.AuditPartial
	}
	return schemas.AuditFailed
}

// ReplayRecord is the record (without who) of a replay of selected dead
// letters that f (all: every record) selected, reported rep, and ended with
// err or, interrupted, before its end. Skipped records count as dealt
// with: they cannot be replayed as they are.
func ReplayRecord(f deadletter.Filter, all bool, selected int, rep deadletter.ReplayReport, err error, interrupted bool) schemas.AuditRecord {
	e := schemas.AuditRecord{Action: schemas.AuditReplay, Selection: Selection(f, all), Selected: selected, Count: rep.Replayed}
	switch {
	case err != nil && !interrupted:
		e.Error = err.Error()
	case interrupted:
		e.Error = fmt.Sprintf("interrupted after %d of %d", rep.Replayed+rep.Skipped+rep.Failed, selected)
	case rep.Failed > 0:
		e.Error = fmt.Sprintf("%d failed", rep.Failed)
	}
	e.Result = Result(rep.Replayed+rep.Skipped, selected, nil)
	if e.Error != "" && e.Result == schemas.AuditOK {
		e.Result = schemas.AuditPartial
	}
	return e
}

// PurgeRecord is the record (without who) of a purge of selected dead
// letters that f (all: every record) selected, reported rep and ended
// with err.
func PurgeRecord(f deadletter.Filter, all bool, selected int, rep deadletter.PurgeReport, err error) schemas.AuditRecord {
	e := schemas.AuditRecord{Action: schemas.AuditPurge, Selection: Selection(f, all), Selected: selected,
		Count: rep.Deleted, Result: Result(rep.Deleted+rep.Gone, selected, err)}
	if err != nil {
		e.Error = err.Error()
	}
	return e
}
