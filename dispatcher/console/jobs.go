package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher/audit"
)

// A replay started from the console runs in the background as a job: its
// page shows its progress (the script polls /ui/api/jobs/<id>) and a
// button cancels it. A job ends with its audit record written.

// maxRunning bounds the replays running at once; keepJobs the jobs kept
// to show.
const (
	maxRunning = 4
	keepJobs   = 50
)

// Job is a replay's progress. Error and Failures are shown as they are
// by the page's script (textContent) too, so they are escaped (show).
type Job struct {
	ID         string                  `json:"id"`
	Who        string                  `json:"who"`
	Selection  string                  `json:"selection"`
	Selected   int                     `json:"selected"`
	Rate       float64                 `json:"rate"`
	Started    time.Time               `json:"started"`
	Ended      time.Time               `json:"ended,omitzero"`
	Report     deadletter.ReplayReport `json:"report"`
	Done       int                     `json:"done"`
	Running    bool                    `json:"running"`
	Canceled   bool                    `json:"canceled"`
	Result     string                  `json:"result,omitempty"`
	Error      string                  `json:"error,omitempty"`
	AuditError string                  `json:"audit_error,omitempty"`
	Failures   []string                `json:"failures,omitempty"`
	cancel     context.CancelFunc
}

type jobs struct {
	now   func() time.Time
	mu    sync.Mutex
	m     map[string]*Job
	order []string
}

func newJobs(now func() time.Time) *jobs { return &jobs{now: now, m: map[string]*Job{}} }

func (js *jobs) running() int {
	n := 0
	for _, j := range js.m {
		if j.Running {
			n++
		}
	}
	return n
}

// add keeps j, dropping the oldest ended job beyond keepJobs.
func (js *jobs) add(j *Job) bool {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.running() >= maxRunning {
		return false
	}
	js.m[j.ID] = j
	js.order = append(js.order, j.ID)
	for len(js.order) > keepJobs {
		old := js.m[js.order[0]]
		if old != nil && old.Running {
			break
		}
		delete(js.m, js.order[0])
		js.order = js.order[1:]
	}
	return true
}

// get returns a copy of job id.
func (js *jobs) get(id string) (Job, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.m[id]
	if !ok {
		return Job{}, false
	}
	out := *j
	out.Failures = append([]string(nil), j.Failures...)
	return out, true
}

func (js *jobs) update(id string, fn func(*Job)) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if j := js.m[id]; j != nil {
		fn(j)
	}
}

// serveReplay selects the dead letters of the form's filter and starts
// replaying them at the form's pace; the answer is the job's page.
func (c *Console) serveReplay(w http.ResponseWriter, r *http.Request, a access) {
	_, flt, all, ok := c.actionSelection(w, r, a, "Replaying")
	if !ok {
		return
	}
	var err error
	rateV := c.set.ReplayRate
	if s := strings.TrimSpace(r.PostFormValue("rate")); s != "" {
		rateV, err = strconv.ParseFloat(s, 64)
		if err != nil || rateV < 0 {
			c.refuse(w, r, a, http.StatusBadRequest, "Rate: want jobs per second (0: as fast as JetStream acks).")
			return
		}
	}
	sel, err := c.dlq.Select(r.Context(), flt)
	if err != nil {
		c.refuse(w, r, a, http.StatusBadGateway, err.Error())
		return
	}
	if sel.Len() == 0 {
		c.done(w, r, a, "/ui/dlq", "No dead letters match ("+flt.Describe()+"); nothing to replay.")
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	j := &Job{ID: randomToken()[:16], Who: a.who, Selection: flt.Describe(), Selected: sel.Len(), Rate: rateV, Started: c.now().UTC(),
		Running: true, cancel: cancel}
	if !c.jobs.add(j) {
		cancel()
		c.refuse(w, r, a, http.StatusTooManyRequests, "Too many replays are running; wait for one to end.")
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		c.runReplay(ctx, j.ID, flt, all, sel, rateV, a.who)
	}()
	c.log.Info("console replay started", zap.String("who", a.who), zap.Int("selected", sel.Len()), zap.String("selection", j.Selection))
	if a.bearer && r.Header.Get("Sec-Fetch-Mode") == "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"job": j.ID, "progress": "/ui/api/jobs/" + j.ID})
		return
	}
	http.Redirect(w, r, "/ui/jobs/"+j.ID, http.StatusSeeOther)
}

// runReplay replays sel and writes the audit record.
func (c *Console) runReplay(ctx context.Context, id string, flt deadletter.Filter, all bool, sel *deadletter.Selection, rateV float64, who string) {
	rep, err := c.dlq.Replay(ctx, sel, deadletter.ReplaySettings{Rate: rateV}, func(ev deadletter.ReplayEvent) {
		c.jobs.update(id, func(j *Job) {
			j.Done++
			switch ev.Outcome {
			case deadletter.Replayed, deadletter.AlreadyReplayed:
				j.Report.Replayed++
			case deadletter.Skipped:
				j.Report.Skipped++
			case deadletter.Failed:
				j.Report.Failed++
			}
			if ev.Err != nil && len(j.Failures) < 20 {
				// shown as is by the page's script too (textContent): escaped here
				j.Failures = append(j.Failures, show("seq "+strconv.FormatUint(ev.Seq, 10)+" (job "+ev.JobID+"): "+string(ev.Outcome)+": "+ev.Err.Error()))
			}
		})
	})
	interrupted := ctx.Err() != nil
	rec := audit.ReplayRecord(flt, all, sel.Len(), rep, err, interrupted)
	rec.Who = who
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, aerr := audit.Append(actx, c.js, c.topo, rec)
	c.jobs.update(id, func(j *Job) {
		j.Report, j.Running, j.Ended, j.Result, j.Error = rep, false, c.now().UTC(), rec.Result, show(rec.Error)
		if aerr != nil {
			j.AuditError = aerr.Error()
		}
	})
	c.log.Info("console replay ended", zap.String("who", who), zap.Int("replayed", rep.Replayed), zap.Int("failed", rep.Failed),
		zap.Int("skipped", rep.Skipped), zap.Bool("interrupted", interrupted))
	if aerr != nil {
		c.log.Warn("console replay not audited", zap.Error(aerr))
	}
}

func (c *Console) serveJob(w http.ResponseWriter, r *http.Request, a access) {
	j, ok := c.jobs.get(r.PathValue("id"))
	if !ok {
		c.refuse(w, r, a, http.StatusNotFound, "No such replay (the console keeps the last 50, until the service restarts).")
		return
	}
	c.render(w, r, http.StatusOK, "job", a, j)
}

func (c *Console) serveJobJSON(w http.ResponseWriter, r *http.Request, _ access) {
	j, ok := c.jobs.get(r.PathValue("id"))
	if !ok {
		http.Error(w, "no such replay", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(j)
}

func (c *Console) serveJobCancel(w http.ResponseWriter, r *http.Request, a access) {
	id := r.PathValue("id")
	var found bool
	c.jobs.update(id, func(j *Job) {
		found = true
		if j.Running {
			j.Canceled = true
			j.cancel()
		}
	})
	if !found {
		c.refuse(w, r, a, http.StatusNotFound, "No such replay.")
		return
	}
	c.log.Info("console replay canceled", zap.String("who", a.who), zap.String("job", id))
	c.done(w, r, a, "/ui/jobs/"+id, "Canceled.")
}
