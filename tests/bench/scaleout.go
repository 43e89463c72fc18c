package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// scaleout: the same number of jobs, published before the systems start,
// drained once by one dispatcher instance and once by two instances on the
// same durable consumer (the baseline's build for sutBaseline), against a target that takes -scaleout-delay per
// call (the HTTP calls are the limit, not the CPU) → jobs/s of each and
// their ratio, and how the calls split between the two instances. Only
// dispatcher runs it: naive has no shared durable consumer to scale.
func (r *run) scaleout(ctx context.Context) error {
	opt := r.h.opt
	n := opt.nScaleout
	path := fmt.Sprintf("/slow?ms=%d", opt.scaleoutDelay.Milliseconds())
	targets := map[string]any{"bench": map[string]any{
		"endpoints": []string{r.sink.url}, "concurrency": opt.scaleoutConcurrency,
	}}
	m := r.res.Metrics
	want := 0
	for _, k := range []int{1, 2} {
		prefix := fmt.Sprintf("s%d", k)
		if err := r.b.publishAll(ctx, okJobs(prefix, "bench", path, n)); err != nil {
			return err
		}
		procs := make([]*proc, k)
		for i := range procs {
			p, err := r.startDispatcher(fmt.Sprintf("%s-%d-of-%d", r.sut, i+1, k), targets)
			if err != nil {
				return err
			}
			procs[i] = p
		}
		timeout := 30*time.Second + time.Duration(float64(n)/float64(k*opt.scaleoutConcurrency)*float64(opt.scaleoutDelay)*3)
		want += n // the sink counts the jobs of both phases
		_, reached, err := r.waitOK(ctx, want, time.Now().Add(timeout))
		if err != nil {
			return err
		}
		if !reached {
			return fmt.Errorf("scaleout: %d instance(s): not every job delivered within %s", k, timeout)
		}
		var attempts []float64
		for _, p := range procs {
			a, err := attemptsOf(ctx, p)
			if err != nil {
				r.note("scaleout: %s: %v", p.name, err)
			}
			attempts = append(attempts, a)
		}
		for _, p := range procs {
			if killed := p.stop(40 * time.Second); killed {
				r.note("scaleout: %s did not stop within 40s of SIGTERM; killed", p.name)
			}
		}
		got, err := r.sink.dump(ctx)
		if err != nil {
			return err
		}
		first, last := int64(math.MaxInt64), int64(0)
		for i := 1; i <= n; i++ {
			at, ok := got[jobID(prefix, i)]
			if !ok {
				return fmt.Errorf("scaleout: %s not delivered", jobID(prefix, i))
			}
			first, last = min(first, at), max(last, at)
		}
		m[fmt.Sprintf("scaleout.jobs_per_s_%d", k)] = perSecond(n, last-first)
		if k == 2 {
			if total := attempts[0] + attempts[1]; total > 0 {
				m["scaleout.min_share"] = min(attempts[0], attempts[1]) / total
			}
			r.note("scaleout: calls by instance %.0f / %.0f", attempts[0], attempts[1])
		}
	}
	if one := m["scaleout.jobs_per_s_1"]; one > 0 {
		m["scaleout.ratio"] = m["scaleout.jobs_per_s_2"] / one
	}
	m["scaleout.ceiling_per_instance"] = float64(opt.scaleoutConcurrency) / opt.scaleoutDelay.Seconds()
	return nil
}

// startDispatcher starts one more dispatcher on this run's broker with
// targets, its log in the run's dir; teardown stops it.
func (r *run) startDispatcher(name string, targets map[string]any) (*proc, error) {
	cfg, err := yaml.Marshal(dispatcherConfig(r.b.url, targets))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(r.dir, name+".yaml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		return nil, err
	}
	p, err := r.h.procs.start(name, filepath.Join(r.dir, name+".log"),
		r.h.binOf(r.sut), "serve", "--config", path, "--log-level", "info")
	if err != nil {
		return nil, err
	}
	r.extra = append(r.extra, p)
	return p, nil
}

// attemptsOf sums dispatcher_attempts_total from the /metrics of a running
// dispatcher (its health address is in its log).
func attemptsOf(ctx context.Context, p *proc) (float64, error) {
	addr := healthAddr(p.log.Name())
	if addr == "" {
		return 0, fmt.Errorf("no health address in %s", p.log.Name())
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, "dispatcher_attempts_total{") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			total += v
		}
	}
	return total, nil
}
