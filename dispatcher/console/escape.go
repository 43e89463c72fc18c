package console

import "github.com/jetdispatch/dispatcher/schemas"

// html/template escapes what HTML would act on (<, >, &, quotes); what a
// record holds may also carry terminal escapes, other controls and bidi
// overrides that reorder a line. show renders those the way Go quotes them
// (\x1b, \u202e) and bytes that are not UTF-8 as \xNN, so that a page shows
// them as text. Templates pass every value that comes from a job, a record
// or an operator through show.

// show renders s on one line; showLines keeps its line breaks.
func show(s string) string { return schemas.Printable(s, false) }

func showLines(s string) string { return schemas.Printable(s, true) }
