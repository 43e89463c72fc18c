package console

import (
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/dispatcher/audit"
)

// A purge takes two posts: the first selects the records and shows how
// many, asking to type that number; the second, with the number typed,
// deletes the records of the same selection (none stored after the first
// post), provided it still holds as many.

// PurgePage is the confirmation page's content.
type PurgePage struct {
	Form      FilterForm
	All       bool
	Described string
	Count     int
	MaxSeq    uint64
	Error     string
	Deleted   int
	Gone      int
	Done      bool
}

func (c *Console) servePurge(w http.ResponseWriter, r *http.Request, a access) {
	form, flt, all, ok := c.actionSelection(w, r, a, "Purging")
	if !ok {
		return
	}
	p := PurgePage{Form: form, All: all, Described: flt.Describe()}
	maxSeq, _ := strconv.ParseUint(r.PostFormValue("max_seq"), 10, 64)
	confirm, typed := strings.TrimSpace(r.PostFormValue("confirm")), r.PostForm.Has("confirm")
	if maxSeq != 0 {
		flt.MaxSeq = maxSeq
	}
	sel, err := c.dlq.Select(r.Context(), flt)
	if err != nil {
		c.refuse(w, r, a, http.StatusBadGateway, err.Error())
		return
	}
	p.Count, p.MaxSeq = sel.Len(), sel.MaxSeq()
	if maxSeq != 0 {
		p.MaxSeq = maxSeq
	}
	expect := r.PostFormValue("expect")
	switch {
	case sel.Len() == 0:
		c.done(w, r, a, "/ui/dlq", "No dead letters match ("+p.Described+"); nothing to purge.")
		return
	case !typed || maxSeq == 0:
		c.render(w, r, http.StatusOK, "purge", a, p) // ask
		return
	case confirm != expect || confirm != strconv.Itoa(sel.Len()):
		p.Error = "Nothing deleted: type the number of dead letters, " + strconv.Itoa(sel.Len()) + ", to confirm."
		if expect != strconv.Itoa(sel.Len()) {
			p.Error = "Nothing deleted: the selection changed meanwhile (now " + strconv.Itoa(sel.Len()) + "); check and confirm again."
		}
		c.render(w, r, http.StatusConflict, "purge", a, p)
		return
	}
	rep, err := c.dlq.Purge(r.Context(), sel)
	rec := audit.PurgeRecord(flt, all, sel.Len(), rep, err)
	rec.Who = a.who
	if _, aerr := audit.Append(r.Context(), c.js, c.topo, rec); aerr != nil {
		c.log.Warn("console purge not audited", zap.Error(aerr))
		p.Error = "Purged, but the audit record was not stored: " + aerr.Error()
	}
	c.log.Info("console purge", zap.String("who", a.who), zap.Int("deleted", rep.Deleted), zap.Int("selected", sel.Len()))
	if err != nil {
		p.Error = "Purge failed part-way: " + err.Error()
	}
	p.Done, p.Deleted, p.Gone = true, rep.Deleted, rep.Gone
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadGateway
	}
	c.render(w, r, status, "purge", a, p)
}
