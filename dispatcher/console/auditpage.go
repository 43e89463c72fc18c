package console

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/audit"
	"github.com/jetdispatch/dispatcher/schemas"
)

// AuditPage is the audit page's content: the newest records first.
type AuditPage struct {
	Action  string
	Since   string
	Limit   int
	Actions []string
	Entries []AuditRow
	Error   string
}

// AuditRow is one audit record.
type AuditRow struct {
	Seq       uint64
	Record    schemas.AuditRecord
	Selection string
}

func (c *Console) serveAudit(w http.ResponseWriter, r *http.Request, a access) {
	q := r.URL.Query()
	p := AuditPage{Action: q.Get("action"), Since: q.Get("since"), Limit: 200, Actions: schemas.AuditActions}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n <= 5000 {
		p.Limit = n
	}
	f := audit.Filter{Limit: p.Limit}
	if p.Action != "" {
		f.Actions = []string{p.Action}
	}
	since, err := deadletter.ParseWhen(p.Since, c.now())
	if err != nil {
		p.Error = err.Error()
		c.render(w, r, http.StatusBadRequest, "audit", a, p)
		return
	}
	f.Since = since
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	entries, err := audit.List(ctx, c.js, c.topo, f)
	if err != nil {
		p.Error = err.Error()
	}
	for _, e := range entries {
		p.Entries = append(p.Entries, AuditRow{Seq: e.Seq, Record: e.Record, Selection: describeSelection(e.Record.Selection)})
	}
	slices.Reverse(p.Entries)
	c.render(w, r, http.StatusOK, "audit", a, p)
}

// describeSelection says an audit selection in words.
func describeSelection(s schemas.AuditSelection) string {
	if s.Target != "" {
		return "target " + s.Target
	}
	if s.All {
		return "all"
	}
	f := deadletter.AuditFilter(s)
	return f.Describe()
}
