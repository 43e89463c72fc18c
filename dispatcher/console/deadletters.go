package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

// RecordRow is one record of a list.
type RecordRow struct {
	Seq                    uint64
	Time                   time.Time
	Target, Reason, Class  string
	JobID                  string
	Status, Attempts       int
	Error                  string
	Endpoint, BreakerState string // fallbacks
	Cut                    []string
}

// ListPage is the content of the dead letters' and the fallbacks' lists.
type ListPage struct {
	Form       FilterForm
	Oldest     bool
	Rows       []RecordRow
	Next       string // the query of the next page; "" when none
	Partial    bool
	Scanned    int
	Took       time.Duration
	Count      int // the dry run's count; -1 when not asked
	CountTook  time.Duration
	Described  string
	Error      string
	Notice     string
	ReplayRate float64
	Fallbacks  bool
}

// pageOf reads one page of store for the request's filter and cursor.
func (c *Console) pageOf(r *http.Request, store *deadletter.Store, fallbacks bool) (ListPage, int) {
	q := r.URL.Query()
	p := ListPage{Form: filterForm(q), Oldest: q.Get("order") == "oldest", Count: -1, Notice: q.Get("notice"),
		ReplayRate: c.set.ReplayRate, Fallbacks: fallbacks}
	flt, err := p.Form.Filter(c.now())
	if err != nil {
		p.Error = err.Error()
		return p, http.StatusBadRequest
	}
	p.Described = flt.Describe()
	cursor, _ := strconv.ParseUint(q.Get("cursor"), 10, 64)
	start := time.Now()
	pg, err := store.Page(r.Context(), flt, deadletter.PageRequest{Cursor: cursor, Size: c.set.PageSize, Newest: !p.Oldest})
	p.Took = time.Since(start)
	switch {
	case errors.Is(err, deadletter.ErrNoStream):
		p.Error = "No stream yet: " + err.Error()
		return p, http.StatusOK
	case err != nil:
		p.Error = err.Error()
		return p, http.StatusBadGateway
	}
	p.Scanned, p.Partial = pg.Scanned, pg.Partial
	for _, rec := range pg.Records {
		p.Rows = append(p.Rows, rowOf(rec, fallbacks))
	}
	if pg.Next != 0 {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("cursor", strconv.FormatUint(pg.Next, 10))
		v.Del("count")
		v.Del("notice")
		p.Next = v.Encode()
	}
	if q.Get("count") != "" && !fallbacks {
		start := time.Now()
		sel, err := store.Select(r.Context(), flt)
		p.CountTook = time.Since(start)
		if err != nil {
			p.Error = err.Error()
		} else {
			p.Count = sel.Len()
		}
	}
	return p, http.StatusOK
}

func rowOf(rec *deadletter.Record, fallbacks bool) RecordRow {
	row := RecordRow{Seq: rec.Seq, Time: rec.Time, Target: rec.Target, Reason: rec.Reason, Class: rec.ErrorClass, JobID: rec.JobID, Cut: rec.Cut()}
	if fallbacks {
		if fb, err := rec.Fallback(); err == nil {
			row.Reason, row.Endpoint, row.BreakerState, row.Attempts = fb.Reason, fb.Endpoint, fb.BreakerState, fb.Attempts
			if row.JobID == "" {
				var j struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal(fb.Job, &j)
				row.JobID = j.ID
			}
		}
		return row
	}
	s := rec.Summary()
	row.Status, row.Attempts, row.Error = s.LastStatus, s.Attempts, s.Error
	return row
}

func (c *Console) serveDeadLetters(w http.ResponseWriter, r *http.Request, a access) {
	p, status := c.pageOf(r, c.dlq, false)
	c.render(w, r, status, "deadletters", a, p)
}

func (c *Console) serveFallbacks(w http.ResponseWriter, r *http.Request, a access) {
	p, status := c.pageOf(r, c.fb, true)
	c.render(w, r, status, "fallbacks", a, p)
}

// RecordPage is one record whole.
type RecordPage struct {
	Row      RecordRow
	DL       *schemas.DeadLetter
	FB       *schemas.Fallback
	Job      string // the job, indented
	Raw      string
	Data     string // the record as stored, indented
	Decoding string // why the record did not decode
}

func (c *Console) recordPage(w http.ResponseWriter, r *http.Request, a access, store *deadletter.Store, fallbacks bool) {
	name := "deadletter"
	if fallbacks {
		name = "fallback"
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		c.refuse(w, r, a, http.StatusBadRequest, "Not a sequence number.")
		return
	}
	rec, err := store.Get(r.Context(), seq)
	switch {
	case errors.Is(err, deadletter.ErrNotFound):
		c.refuse(w, r, a, http.StatusNotFound, fmt.Sprintf("No record %d in %s (replayed, purged or aged out).", seq, store.Stream()))
		return
	case err != nil:
		c.refuse(w, r, a, http.StatusBadGateway, err.Error())
		return
	}
	p := RecordPage{Row: rowOf(rec, fallbacks), Data: indent(rec.Data)}
	if fallbacks {
		fb, err := rec.Fallback()
		if err != nil {
			p.Decoding = err.Error()
		} else {
			p.FB, p.Job = fb, indent(fb.Job)
		}
	} else {
		dl, err := rec.DeadLetter()
		if err != nil {
			p.Decoding = err.Error()
		} else {
			p.DL, p.Job = dl, indent(dl.Job)
			if len(dl.Raw) > 0 {
				p.Raw = string(dl.Raw)
			}
		}
	}
	c.render(w, r, http.StatusOK, name, a, p)
}

func (c *Console) serveDeadLetter(w http.ResponseWriter, r *http.Request, a access) {
	c.recordPage(w, r, a, c.dlq, false)
}

func (c *Console) serveFallback(w http.ResponseWriter, r *http.Request, a access) {
	c.recordPage(w, r, a, c.fb, true)
}

func indent(data []byte) string {
	if len(data) == 0 || string(data) == "null" {
		return ""
	}
	var b bytes.Buffer
	if json.Indent(&b, data, "", "  ") != nil {
		return string(data)
	}
	return unescapeHTML(b.String())
}

// unescapeHTML undoes the \u003c, \u003e and \u0026 escapes that Go's JSON
// encoder writes for <, > and &: the page escapes them itself, and the
// job reads as it was sent.
func unescapeHTML(s string) string {
	if !strings.Contains(s, `\u00`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == 'u' && i+6 <= len(s) {
			switch s[i+2 : i+6] {
			case "003c":
				b.WriteByte('<')
				i += 5
				continue
			case "003e":
				b.WriteByte('>')
				i += 5
				continue
			case "0026":
				b.WriteByte('&')
				i += 5
				continue
			}
		}
		b.WriteString(s[i : i+2]) // an escape: kept whole
		i++
	}
	return b.String()
}
