package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
)

// FilterForm is a dead-letter filter as the forms carry it: the fields of
// dispatcher dlq ls (--target, --reason, --class, --status, --since,
// --until) and a text search, lists comma-separated.
type FilterForm struct {
	Target, Reason, Class, Status, Since, Until, Text string
	// Seq lists record sequences (one record's page).
	Seq string
}

// filterForm reads the form fields of v.
func filterForm(v url.Values) FilterForm {
	g := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return FilterForm{Target: g("target"), Reason: g("reason"), Class: g("class"), Status: g("status"), Since: g("since"), Until: g("until"), Text: v.Get("text"), Seq: g("seq")}
}

// Query is the form as a query string (links to the next page).
func (f FilterForm) Query() string {
	v := url.Values{}
	for k, s := range map[string]string{"target": f.Target, "reason": f.Reason, "class": f.Class, "status": f.Status,
		"since": f.Since, "until": f.Until, "text": f.Text, "seq": f.Seq} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

// Empty reports whether no field is set: the filter selects everything.
func (f FilterForm) Empty() bool { return f == FilterForm{} }

// Filter parses the form as of now.
func (f FilterForm) Filter(now time.Time) (deadletter.Filter, error) {
	var out deadletter.Filter
	out.Targets, out.Reasons, out.Classes = list(f.Target), list(f.Reason), list(f.Class)
	for _, s := range list(f.Status) {
		r, err := deadletter.ParseStatus(s)
		if err != nil {
			return out, err
		}
		out.Statuses = append(out.Statuses, r)
	}
	var err error
	if out.Since, err = deadletter.ParseWhen(f.Since, now); err != nil {
		return out, fmt.Errorf("%w: since: %w", deadletter.ErrInvalidFilter, err)
	}
	if out.Until, err = deadletter.ParseWhen(f.Until, now); err != nil {
		return out, fmt.Errorf("%w: until: %w", deadletter.ErrInvalidFilter, err)
	}
	out.Text = f.Text
	for _, s := range list(f.Seq) {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return out, fmt.Errorf("%w: seq %q: want a record's sequence number", deadletter.ErrInvalidFilter, s)
		}
		out.Seqs = append(out.Seqs, n)
	}
	return out, out.Validate()
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// actionSelection reads the selection of a replay or purge form (verb says
// which, in the refusal): its filter, and whether every dead letter is
// meant — which needs its box ticked, never an empty filter alone. It has
// refused the request when ok is false.
func (c *Console) actionSelection(w http.ResponseWriter, r *http.Request, a access, verb string) (form FilterForm, flt deadletter.Filter, all, ok bool) {
	form = filterForm(r.PostForm)
	flt, err := form.Filter(c.now())
	if err != nil {
		c.refuse(w, r, a, http.StatusBadRequest, err.Error())
		return form, flt, false, false
	}
	all = r.PostFormValue("all") != ""
	if form.Empty() && !all {
		c.refuse(w, r, a, http.StatusBadRequest, verb+" every dead letter needs the 'every dead letter' box ticked; or filter first.")
		return form, flt, all, false
	}
	return form, flt, all, true
}
