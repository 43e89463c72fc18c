package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The targets scenario (issue 14) measures how dispatcher's cost grows with
// the number of configured targets. It is a sequence of steps, each a run of
// its own on a fresh nats-server and sink:
//
//	targets-<N>        N targets configured, the jobs spread evenly over all
//	targets-hot        -targets-hot-among targets configured, the jobs spread over -targets-hot of them
//	targets-alone      -targets-isolation targets less two, the jobs spread over all
//	targets-isolation  the same healthy targets and jobs, and two sick targets with jobs of their own:
//	                   one black-holed, one whose endpoints always answer 503 (their breakers open)
//
// Every target has an endpoint of its own on the sink (/t/<name>) and
// concurrency max(1, 64/N) for N configured targets. Each step starts the
// system, waits for /readyz, lets it idle, then publishes every job and
// waits for the last receipt.

// scTargets is the scenario's name in -scenarios; its steps run under the
// names targets-<N>, targets-hot, targets-alone and targets-isolation.
const scTargets = "targets"

// Step kinds of the targets scenario.
const (
	tkSize      = "size"
	tkHot       = "hot"
	tkAlone     = "alone"
	tkIsolation = "isolation"
)

// targetsStep is one step of the targets scenario.
type targetsStep struct {
	name  string // the run's scenario name: targets-<N>, targets-hot, …
	kind  string // tkSize, tkHot, tkAlone, tkIsolation
	n     int    // targets configured (alone: the isolation step's n; two fewer are configured)
	hot   int    // tkHot: targets that get the jobs
	jobs  int    // healthy jobs
	nSick int    // tkIsolation: jobs for each of the two sick targets
}

// targetsSteps are the steps -scenarios targets runs, in order: the sizes
// ascending (the 1-target step first: the others divide by its figures),
// then hot, alone and isolation.
func targetsSteps(o options) []targetsStep {
	var out []targetsStep
	for _, n := range o.targetsSizes {
		out = append(out, targetsStep{name: fmt.Sprintf("%s-%d", scTargets, n), kind: tkSize, n: n, jobs: o.nTargetsJobs})
	}
	if o.targetsHot > 0 {
		out = append(out, targetsStep{name: scTargets + "-hot", kind: tkHot, n: o.targetsHotAmong, hot: o.targetsHot, jobs: o.nTargetsJobs})
	}
	if o.targetsIsolation > 0 {
		out = append(out,
			targetsStep{name: scTargets + "-alone", kind: tkAlone, n: o.targetsIsolation, jobs: o.nTargetsJobs},
			targetsStep{name: scTargets + "-isolation", kind: tkIsolation, n: o.targetsIsolation, jobs: o.nTargetsJobs, nSick: o.nTargetsSick})
	}
	return out
}

// title names a step in the report.
func (st targetsStep) title() string {
	switch st.kind {
	case tkHot:
		return fmt.Sprintf("%s: %s targets configured, the jobs on %s of them (concurrency %d each)",
			st.name, fmtCount(st.n), fmtCount(st.hot), perTargetConcurrency(st.n))
	case tkAlone:
		return fmt.Sprintf("%s: the isolation step's %s healthy targets alone (concurrency %d each)",
			st.name, fmtCount(st.n-2), perTargetConcurrency(st.n-2))
	case tkIsolation:
		return fmt.Sprintf("%s: %s targets, one black-holed and one answering 503 (breakers open), %s jobs each (concurrency %d each)",
			st.name, fmtCount(st.n), fmtCount(st.nSick), perTargetConcurrency(st.n))
	}
	return fmt.Sprintf("%s: %s target(s) (concurrency %d each)", st.name, fmtCount(st.n), perTargetConcurrency(st.n))
}

// stepOf finds a step of the targets scenario by its run name.
func stepOf(steps []targetsStep, name string) (targetsStep, bool) {
	i := slices.IndexFunc(steps, func(st targetsStep) bool { return st.name == name })
	if i < 0 {
		return targetsStep{}, false
	}
	return steps[i], true
}

// isTargetsStep reports whether sc is a step of the targets scenario.
func isTargetsStep(sc string) bool { return strings.HasPrefix(sc, scTargets+"-") }

// targetsOne is the run name of the 1-target step, the one the others are
// divided by and the only one naive runs (it has no targets to configure).
var targetsOne = scTargets + "-1"

// expandScenarios is the scenarios of o in order with the targets scenario
// replaced by its steps: what runAll runs, one after the other.
func expandScenarios(o options) []string {
	var out []string
	for _, sc := range o.scenarios {
		if sc != scTargets {
			out = append(out, sc)
			continue
		}
		for _, st := range targetsSteps(o) {
			out = append(out, st.name)
		}
	}
	return out
}

// perTargetConcurrency is each target's concurrency with n configured: 64
// for one, 64/n for more, at least 1.
func perTargetConcurrency(n int) int { return max(1, 64/max(1, n)) }

// targetNames are n target names, t00000 on, zero-padded to at least five
// digits so that they sort in order.
func targetNames(n int) []string {
	width := max(5, len(strconv.Itoa(n-1)))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("t%0*d", width, i)
	}
	return out
}

// pickEvenly picks k of names, evenly spaced.
func pickEvenly(names []string, k int) []string {
	k = min(k, len(names))
	out := make([]string, k)
	for i := range out {
		out[i] = names[i*len(names)/k]
	}
	return out
}

// spreadJobs makes n jobs for path, job k for targets[k % len(targets)], so
// that every target gets n/len(targets) (one more for the first n%len) and
// the targets take turns in publish order.
func spreadJobs(prefix, path string, targets []string, n int) []job {
	jobs := make([]job, n)
	for k := range jobs {
		jobs[k] = job{id: jobID(prefix, k+1), target: targets[k%len(targets)], path: path, n: k + 1}
	}
	return jobs
}

// interleave merges lists so that each list's jobs are spread evenly over
// the result (job j of a list of m sits at about (j+½)/m of the way), each
// list keeping its order.
func interleave(lists ...[]job) []job {
	type pos struct {
		at      float64
		list, j int
	}
	var all []pos
	for l, jobs := range lists {
		for j := range jobs {
			all = append(all, pos{(float64(j) + 0.5) / float64(len(jobs)), l, j})
		}
	}
	slices.SortStableFunc(all, func(a, b pos) int {
		if c := cmpFloat(a.at, b.at); c != 0 {
			return c
		}
		return a.list - b.list
	})
	out := make([]job, len(all))
	for i, p := range all {
		out[i] = lists[p.list][p.j]
		out[i].n = i + 1
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// targetsPlan is what one step configures and publishes.
type targetsPlan struct {
	targets       map[string]any // dispatcher's targets section
	configured    int
	warmup        []job // tkIsolation: sick jobs published before the measured ones
	jobs          []job // in publish order
	healthy       int   // jobs the sink answers 2xx: the step waits for these
	receiving     []string
	hole, failing string // tkIsolation: the sick targets
	naiveEndpoint string // the 1-target step's endpoint, for naive
}

// Paths of the sink the targets scenario uses.
const (
	pathOK   = "/ok"
	pathHole = "/hole"
	pathFail = "/fail"
)

// holeTimeout is the black-holed target's timeouts.total, as in the
// isolation scenario.
const holeTimeout = 2 * time.Second

// plan builds the step's targets and jobs against the sink at sinkURL.
func (st targetsStep) plan(sinkURL string) targetsPlan {
	all := targetNames(st.n)
	p := targetsPlan{targets: map[string]any{}}
	configured, receiving := all, all
	if st.kind == tkHot {
		receiving = pickEvenly(all, st.hot)
	}
	if st.kind == tkAlone || st.kind == tkIsolation {
		p.hole, p.failing = all[len(all)/3], all[2*len(all)/3]
		receiving = slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == p.hole || n == p.failing })
		if st.kind == tkAlone {
			configured = receiving
			p.hole, p.failing = "", ""
		}
	}
	conc := perTargetConcurrency(len(configured))
	for _, name := range configured {
		endpoint := sinkURL + "/t/" + name
		tg := map[string]any{"endpoints": []string{endpoint}, "concurrency": conc}
		switch name {
		case p.hole:
			tg["timeouts"] = map[string]any{"total": holeTimeout.String()}
		case p.failing:
			// Two endpoints, both failing: every breaker of the target opens.
			tg["endpoints"] = []string{endpoint + "/a", endpoint + "/b"}
		}
		p.targets[name] = tg
	}
	p.configured, p.receiving = len(configured), receiving
	p.naiveEndpoint = sinkURL + "/t/" + configured[0]
	p.jobs = spreadJobs("g", pathOK, receiving, st.jobs)
	p.healthy = st.jobs
	if st.kind == tkIsolation {
		hole := spreadJobs("h", pathHole, []string{p.hole}, st.nSick)
		fail := spreadJobs("x", pathFail, []string{p.failing}, st.nSick)
		w := sickWarmup(st.nSick)
		p.warmup = interleave(hole[:w], fail[:w])
		p.jobs = interleave(p.jobs, hole[w:], fail[w:])
	}
	return p
}

// sickWarmup is how many of a sick target's n jobs are published before
// the measured ones, so that the hole holds calls and the failing target's
// breakers are open when the healthy jobs come: a quarter, at least 100
// (each of the failing target's two breakers opens on its 20th call at the
// latest).
func sickWarmup(n int) int { return min(n, max(n/4, 100)) }

// targets runs one step: start, ready, idle, then every job published at
// once and drained.
func (r *run) targets(ctx context.Context, st targetsStep) error {
	plan := st.plan(r.sink.url)
	r.naiveEndpoint = plan.naiveEndpoint
	if isDispatcher(r.sut) && r.h.takesHTTPToken(ctx, r.h.binOf(r.sut)) {
		r.httpToken = benchHTTPToken
	}
	if err := r.startSUT(plan.targets, naiveTimeout); err != nil {
		return err
	}
	ready, err := r.targetsStart(ctx, st, plan)
	if err != nil || !ready {
		return err
	}
	if err := r.targetsIdle(ctx, st); err != nil {
		return err
	}
	if st.kind == tkIsolation {
		if err := r.makeSick(ctx, st, plan); err != nil {
			return err
		}
	}
	reached, err := r.targetsDrain(ctx, st, plan)
	if err != nil {
		return err
	}
	if reached {
		r.checkSpread(ctx, st, plan)
	}
	r.timedStop(st.name + ".")
	r.targetsRatios(st)
	if st.kind == tkIsolation && isDispatcher(r.sut) {
		dlq, err1 := r.b.streamMsgs(ctx, topo.DLQStream())
		fb, err2 := r.b.streamMsgs(ctx, topo.FallbackStream())
		if err1 == nil && err2 == nil {
			r.note("%s: %d dead letters, %d fallback records", st.name, dlq, fb)
		}
	}
	return nil
}

// targetsStart waits until the system is ready and records how long that
// took; a system not ready in time is noted and stopped (ready false, no
// error: the step's figure is that it was not ready).
func (r *run) targetsStart(ctx context.Context, st targetsStep, plan targetsPlan) (ready bool, err error) {
	k := st.name + "."
	took, why, err := r.targetsReady(ctx)
	if err != nil {
		return false, err
	}
	if why != "" {
		r.res.Metrics[k+"not_ready"] = 1
		r.note("%s: %s with %s targets; stopped", st.name, why, fmtCount(plan.configured))
		given := []string{}
		if s, ok := r.proc.sample(); ok {
			given = append(given, fmt.Sprintf("RSS %.0f MiB, %.1f CPU s", mib(s.rss), s.cpu.Seconds()))
		}
		for _, stream := range []string{topo.JobsStream(), topo.SchedStream()} {
			if ss, err := r.b.streamState(ctx, stream); err == nil {
				given = append(given, fmt.Sprintf("%d consumers on %s", ss.Consumers, stream))
			}
		}
		if len(given) > 0 {
			r.note("%s: when given up on: %s", st.name, strings.Join(given, "; "))
		}
		if last := lastLoggedError(r.proc.log.Name()); last != "" {
			r.note("%s: the last error logged: %s", st.name, last)
		}
		r.timedStop(k)
		return false, nil
	}
	r.res.Metrics[k+"not_ready"] = 0
	r.res.Metrics[k+"ready_s"] = took.Seconds()
	return true, nil
}

// targetsIdle lets the ready system idle, nothing published yet, and
// records the RSS and CPU of both processes and dispatcher's goroutines.
func (r *run) targetsIdle(ctx context.Context, st targetsStep) error {
	k, m, idle := st.name+".", r.res.Metrics, r.h.opt.targetsIdle
	sut0, nats0, ok0 := r.sampleBoth()
	if err := sleepCtx(ctx, idle); err != nil {
		return err
	}
	sut1, nats1, ok1 := r.sampleBoth()
	if ok0 && ok1 {
		m[k+"idle_rss_mib"] = mib(sut1.rss)
		m[k+"nats_idle_rss_mib"] = mib(nats1.rss)
		if idle > 0 {
			m[k+"idle_cpu_pct"] = 100 * (sut1.cpu - sut0.cpu).Seconds() / idle.Seconds()
			m[k+"nats_idle_cpu_pct"] = 100 * (nats1.cpu - nats0.cpu).Seconds() / idle.Seconds()
		}
	}
	if isDispatcher(r.sut) {
		if g, err := r.scrapeMetric(ctx, "go_goroutines"); err != nil {
			r.note("%s: goroutines: %v", st.name, err)
		} else {
			m[k+"goroutines"] = g
		}
	}
	return nil
}

// targetsDrain publishes the step's jobs and waits until the sink answered
// every healthy one (reached) or -targets-timeout passed since the first
// publish; it records jobs/s, the CPU per job of both processes over the
// same window and their peak RSS.
func (r *run) targetsDrain(ctx context.Context, st targetsStep, plan targetsPlan) (reached bool, err error) {
	k, m, timeout := st.name+".", r.res.Metrics, r.h.opt.targetsTimeout
	c0, n0, ok0 := r.sampleBoth()
	pubStart := time.Now()
	_, err = r.b.publishWithin(ctx, plan.jobs, timeout)
	switch {
	case errors.Is(err, errPublishTimeout):
		// What was stored is measured; the rest counts as missing.
		r.note("%s: %v", st.name, err)
	case err != nil:
		return false, err
	default:
		m[k+"publish_s"] = time.Since(pubStart).Seconds()
	}
	ss, reached, err := r.waitOK(ctx, plan.healthy, pubStart.Add(timeout))
	end := time.Now()
	c1, n1, ok1 := r.sampleBoth()
	if err != nil {
		return false, err
	}
	switch {
	case reached:
		m[k+"jobs_per_s"] = perSecond(plan.healthy, ss.LastOKNs-ss.FirstOKNs)
	case ss.OKIDs > 0:
		m[k+"jobs_per_s"] = perSecond(ss.OKIDs, end.UnixNano()-ss.FirstOKNs)
		r.note("%s: only %d of %d jobs delivered within %s; jobs/s is over the %s since the first",
			st.name, ss.OKIDs, plan.healthy, timeout, time.Duration(end.UnixNano()-ss.FirstOKNs).Round(time.Millisecond))
	default:
		m[k+"jobs_per_s"] = 0
		r.note("%s: no job delivered within %s", st.name, timeout)
	}
	m[k+"missing"] = float64(plan.healthy - ss.OKIDs)
	if ok0 && ok1 && ss.OKIDs > 0 {
		m[k+"cpu_us_per_job"] = (c1.cpu - c0.cpu).Seconds() * 1e6 / float64(ss.OKIDs)
		m[k+"nats_cpu_us_per_job"] = (n1.cpu - n0.cpu).Seconds() * 1e6 / float64(ss.OKIDs)
	}
	if p := peakRSS(r.proc.cmd.Process.Pid); p > 0 {
		m[k+"peak_rss_mib"] = mib(p)
	}
	if p := peakRSS(r.b.proc.cmd.Process.Pid); p > 0 {
		m[k+"nats_peak_rss_mib"] = mib(p)
	}
	got, err := r.sink.dump(ctx)
	if err != nil {
		return false, err
	}
	for q, at := range deliveryQuantiles(got, plan.jobs, pubStart, end) {
		m[k+q] = at
	}
	if st.kind == tkIsolation {
		r.note("%s: %d calls held by the hole, %d answered 503", st.name, ss.Status["held"], ss.Status["503"])
	}
	return reached, nil
}

// deliveryQuantiles are the seconds from the first publish until 50%, 99%
// and all of the healthy jobs were answered 2xx (a job not answered counts
// as answered when the harness gave up waiting): a tail of late targets
// shows as all_s far past p99_s.
func deliveryQuantiles(got map[string]int64, jobs []job, start, gaveUp time.Time) map[string]float64 {
	var at []float64
	for _, j := range jobs {
		if j.path != pathOK {
			continue
		}
		if ns, ok := got[j.id]; ok {
			at = append(at, time.Unix(0, ns).Sub(start).Seconds())
		} else {
			at = append(at, gaveUp.Sub(start).Seconds())
		}
	}
	if len(at) == 0 {
		return nil
	}
	slices.Sort(at)
	return map[string]float64{"p50_s": quantile(at, 0.5), "p99_s": quantile(at, 0.99), "all_s": at[len(at)-1]}
}

// errConsumerLimit is in the error dispatcher logs while it retries
// creating a consumer past the stream's limit of consumers (nats-server's
// JSMaximumConsumersLimitErr): retrying cannot help, it is never ready.
const errConsumerLimit = "err_code=10026"

// targetsReady waits until the system is ready and returns how long it took
// from its start; why says why it is not ready (the timeout passed, or
// dispatcher logs an error that retrying cannot cure), empty when it is.
func (r *run) targetsReady(ctx context.Context) (ready time.Duration, why string, err error) {
	timeout := r.h.opt.targetsReadyTimeout
	if !isDispatcher(r.sut) {
		// naive's ready line comes once: wait for it at once.
		if err := r.waitReady(ctx, timeout); err != nil {
			return 0, "", err
		}
		return time.Since(r.proc.started), "", nil
	}
	deadline := r.proc.started.Add(timeout)
	for {
		err := r.waitReady(ctx, min(time.Until(deadline), time.Second))
		switch {
		case err == nil:
			return time.Since(r.proc.started), "", nil
		case !errors.Is(err, errNotReady):
			return 0, "", err
		case time.Now().After(deadline):
			return 0, fmt.Sprintf("not ready within %s", timeout), nil
		case logHas(r.proc.log.Name(), errConsumerLimit):
			return 0, fmt.Sprintf("not ready: the stream's consumer limit reached (%s) after %s",
				errConsumerLimit, time.Since(r.proc.started).Round(100*time.Millisecond)), nil
		}
	}
}

// logHas reports whether the file at path holds s.
func logHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}

// lastLoggedError is the error field of the last line of dispatcher's log
// (JSON lines) that has one, or "".
func lastLoggedError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		var e struct {
			Msg   string `json:"msg"`
			Error string `json:"error"`
		}
		if json.Unmarshal(lines[i], &e) == nil && e.Error != "" {
			return e.Msg + ": " + e.Error
		}
	}
	return ""
}

// benchHTTPToken is dispatcher's http.token in the targets scenario, where
// the build takes one: /metrics is read with it.
const benchHTTPToken = "bench-http-token-0123456789"

// takesHTTPToken reports whether the dispatcher binary bin accepts
// http.token (builds before issue 13 refuse it as an unknown key): it asks
// the binary's config check about a config that sets one.
func (h *harness) takesHTTPToken(ctx context.Context, bin string) bool {
	if ok, seen := h.takesToken[bin]; seen {
		return ok
	}
	cfg := dispatcherConfig("nats://127.0.0.1:4222", map[string]any{"t": map[string]any{"endpoints": []string{"http://127.0.0.1:1"}}})
	cfg["http"].(map[string]any)["token"] = benchHTTPToken
	ok := false
	if b, err := yaml.Marshal(cfg); err == nil {
		path := filepath.Join(h.root, fmt.Sprintf("token-check-%d.yaml", len(h.takesToken)))
		if err := os.WriteFile(path, b, 0o644); err == nil {
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			ok = exec.CommandContext(ctx, bin, "config", "check", "-q", path).Run() == nil
		}
	}
	if h.takesToken == nil {
		h.takesToken = map[string]bool{}
	}
	h.takesToken[bin] = ok
	return ok
}

// sickTimeout bounds the wait for the sick targets to be sick.
const sickTimeout = 30 * time.Second

// makeSick publishes the isolation step's warm-up jobs and waits (bounded
// by sickTimeout) until the hole holds a call and, for dispatcher, every
// breaker of the failing target is open.
func (r *run) makeSick(ctx context.Context, st targetsStep, plan targetsPlan) error {
	if err := r.b.publishAll(ctx, plan.warmup); err != nil {
		return err
	}
	start := time.Now()
	deadline := start.Add(sickTimeout)
	held, open := false, !isDispatcher(r.sut)
	var states []float64
	for !held || !open {
		if time.Now().After(deadline) {
			r.note("%s: after %s the hole held a call: %t; the failing target's breaker states %v (2: open)", st.name, sickTimeout, held, states)
			return nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
		if err := r.proc.exitedEarly(); err != nil {
			return err
		}
		sst, err := r.sink.stats(ctx)
		if err != nil {
			return err
		}
		held = sst.Status["held"] > 0
		if !open {
			text, err := r.scrape(ctx)
			if err != nil {
				return err
			}
			states = labelled(text, "dispatcher_breaker_state", "target", plan.failing)
			open = len(states) == 2 && !slices.ContainsFunc(states, func(v float64) bool { return v != 2 })
		}
	}
	r.res.Metrics[st.name+".sick_s"] = time.Since(start).Seconds()
	return nil
}

// targetsRatios adds the figures divided by another step's of the same
// system and repeat: by the 1-target step's (jobs/s, CPU per job, idle cost
// per target) and, for isolation, by the alone step's healthy jobs/s.
func (r *run) targetsRatios(st targetsStep) {
	m := r.res.Metrics
	k := st.name + "."
	one := func(key string) (float64, bool) {
		v, ok := r.prior.metric(targetsOne, r.sut, r.repeat, targetsOne+"."+key)
		return v, ok && v > 0
	}
	if st.name != targetsOne && (st.kind == tkSize || st.kind == tkHot) {
		for _, key := range []string{"jobs_per_s", "cpu_us_per_job", "nats_cpu_us_per_job"} {
			if base, ok := one(key); ok {
				if v, ok := m[k+key]; ok {
					m[k+key+"_vs_1"] = v / base
				}
			}
		}
	}
	if st.kind == tkSize && st.n > 1 {
		if base, ok := one("idle_rss_mib"); ok {
			if v, ok := m[k+"idle_rss_mib"]; ok {
				m[k+"idle_kb_per_target"] = idleCostKB(base, v, st.n)
			}
		}
	}
	if st.kind == tkIsolation {
		alone := scTargets + "-alone"
		if base, ok := r.prior.metric(alone, r.sut, r.repeat, alone+".jobs_per_s"); ok && base > 0 {
			m[k+"ratio"] = m[k+"jobs_per_s"] / base
		}
	}
}

// idleCostKB is the idle cost of each target past the first, in kB (1,000
// bytes): (idle RSS with n targets − idle RSS with 1) ÷ (n − 1), the RSS
// figures in MiB.
func idleCostKB(oneMiB, nMiB float64, n int) float64 {
	return (nMiB - oneMiB) * (1 << 20) / 1000 / float64(n-1)
}

// sampleBoth samples the system under test and nats-server at once.
func (r *run) sampleBoth() (sut, nats procSample, ok bool) {
	sut, ok1 := r.proc.sample()
	nats, ok2 := r.b.proc.sample()
	return sut, nats, ok1 && ok2
}

// timedStop stops the system and records how long it took to exit.
func (r *run) timedStop(k string) {
	start := time.Now()
	r.stopSUT()
	r.res.Metrics[k+"stop_s"] = time.Since(start).Seconds()
}

// checkSpread notes when the sink's count of delivered jobs per target
// differs from the plan (every receiving target gets its share).
func (r *run) checkSpread(ctx context.Context, st targetsStep, plan targetsPlan) {
	var got map[string]int
	if err := r.sink.get(ctx, "/_targets", &got); err != nil {
		r.note("%s: %v", st.name, err)
		return
	}
	lo, hi := math.MaxInt, 0
	for _, name := range plan.receiving {
		lo, hi = min(lo, got[name]), max(hi, got[name])
	}
	want := plan.healthy / len(plan.receiving)
	if lo < want || hi > want+1 || len(got) != len(plan.receiving) {
		r.note("%s: jobs delivered per target %d–%d over %d targets, want %d–%d over %d",
			st.name, lo, hi, len(got), want, want+min(1, plan.healthy%len(plan.receiving)), len(plan.receiving))
	}
}

// scrapeMetric sums the samples of a metric (every label set) on the
// system's /metrics.
func (r *run) scrapeMetric(ctx context.Context, name string) (float64, error) {
	text, err := r.scrape(ctx)
	if err != nil {
		return 0, err
	}
	return metricSum(text, name)
}

// scrape reads the system's /metrics.
func (r *run) scrape(ctx context.Context) (string, error) {
	addr := healthAddr(r.proc.log.Name())
	if addr == "" {
		return "", fmt.Errorf("no health address in %s", r.proc.log.Name())
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	if r.httpToken != "" {
		req.Header.Set("Authorization", "Bearer "+r.httpToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/metrics: %s", resp.Status)
	}
	return string(b), nil
}

// labelled returns the samples of metric name whose label is value, in
// the order of the exposition.
func labelled(text, name, label, value string) []float64 {
	var out []float64
	want := label + "=" + strconv.Quote(value)
	for line := range strings.SplitSeq(text, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		labels, sample, ok := strings.Cut(rest, "} ")
		if !ok || !slices.Contains(strings.Split(labels, ","), want) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(sample)[0], 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// metricSum sums the samples of metric name in a Prometheus text
// exposition.
func metricSum(text, name string) (float64, error) {
	total, found := 0.0, false
	for line := range strings.SplitSeq(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			total, found = total+v, true
		}
	}
	if !found {
		return 0, fmt.Errorf("/metrics: no %s", name)
	}
	return total, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// fmtCount prints a count with thousands separators: 10,000.
func fmtCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
