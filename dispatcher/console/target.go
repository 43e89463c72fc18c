package console

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/schemas"
)

// TargetPage is the target page's content.
type TargetPage struct {
	Row         Row
	Classes     []ClassCount
	Failures    []Failure // newest first
	Transitions []BreakerEvent
	Notice      string
}

// ClassCount is how many failed attempts had a class.
type ClassCount struct {
	Class string
	N     uint64
}

func (c *Console) targetState(name string) (TargetState, bool) {
	for _, ts := range c.backend.Targets() {
		if ts.Name == name {
			return ts, true
		}
	}
	return TargetState{}, false
}

func (c *Console) serveTarget(w http.ResponseWriter, r *http.Request, a access) {
	name := r.PathValue("name")
	ts, ok := c.targetState(name)
	if !ok {
		c.refuse(w, r, a, http.StatusNotFound, fmt.Sprintf("No target %q is served by this instance.", show(name)))
		return
	}
	c.render(w, r, http.StatusOK, "target", a, c.targetPage(ts, r.URL.Query().Get("notice")))
}

func (c *Console) targetPage(ts TargetState, notice string) TargetPage {
	now := c.now()
	f := c.figures.Target(ts.Name, true)
	p := TargetPage{Row: c.row(ts, f, now), Notice: notice}
	for k, n := range f.Classes {
		p.Classes = append(p.Classes, ClassCount{k, n})
	}
	slices.SortFunc(p.Classes, func(a, b ClassCount) int {
		if a.N != b.N {
			return cmp.Compare(b.N, a.N)
		}
		return strings.Compare(a.Class, b.Class)
	})
	p.Failures = f.Failures
	slices.Reverse(p.Failures)
	p.Transitions = f.Transitions
	slices.Reverse(p.Transitions)
	return p
}

// servePause pauses the target for the fleet: for the duration given
// ("30m"; empty: until resumed), with the reason given.
func (c *Console) servePause(w http.ResponseWriter, r *http.Request, a access) {
	name := r.PathValue("name")
	if !schemas.ValidTarget(name) {
		c.refuse(w, r, a, http.StatusBadRequest, "Not a target name.")
		return
	}
	var until time.Time
	if d := strings.TrimSpace(r.PostFormValue("for")); d != "" {
		dd, err := time.ParseDuration(d)
		if err != nil || dd <= 0 {
			c.refuse(w, r, a, http.StatusBadRequest, fmt.Sprintf("Pause for %q: want a duration such as 30m or 2h, or nothing for until resumed.", show(d)))
			return
		}
		until = c.now().Add(dd)
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	ctx := r.Context()
	if err := c.backend.Pause(ctx, name, until, a.who, reason); err != nil {
		c.log.Warn("console pause", zap.String("target", name), zap.Error(err))
		c.refuse(w, r, a, http.StatusInternalServerError, "Pause failed: "+err.Error())
		return
	}
	c.log.Info("console paused target", zap.String("target", name), zap.String("who", a.who))
	c.done(w, r, a, "/ui/targets/"+name, "Paused "+name+" for the fleet.")
}

func (c *Console) serveResume(w http.ResponseWriter, r *http.Request, a access) {
	name := r.PathValue("name")
	if !schemas.ValidTarget(name) {
		c.refuse(w, r, a, http.StatusBadRequest, "Not a target name.")
		return
	}
	was, err := c.backend.Resume(r.Context(), name, a.who)
	if err != nil {
		c.log.Warn("console resume", zap.String("target", name), zap.Error(err))
		c.refuse(w, r, a, http.StatusInternalServerError, "Resume failed: "+err.Error())
		return
	}
	c.log.Info("console resumed target", zap.String("target", name), zap.String("who", a.who))
	msg := "Resumed " + name + " for the fleet."
	if !was {
		msg = name + " was not paused."
	}
	c.done(w, r, a, "/ui/targets/"+name, msg)
}

// done answers a successful action: a redirect for a browser (to back,
// with the notice), the notice as text for a bearer client.
func (c *Console) done(w http.ResponseWriter, r *http.Request, a access, back, notice string) {
	if a.bearer && r.Header.Get("Sec-Fetch-Mode") == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, notice)
		return
	}
	http.Redirect(w, r, back+"?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}
