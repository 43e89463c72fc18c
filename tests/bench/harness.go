package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// harness owns the temp dir, the binaries and every run.
type harness struct {
	opt    options
	procs  *procSet
	stderr io.Writer
	root   string // temp dir: bin/ and one dir per run

	natsBin, dispatcherBin, selfBin string
	baselineBin                     string // -baseline-bin, absolute; empty: no baseline
	// builtFrom is the commit of the work tree ./cmd/dispatcher was built
	// from, when the harness built it; empty otherwise.
	builtFrom string
	// takesToken caches takesHTTPToken by binary.
	takesToken map[string]bool
}

// binOf is the binary of a dispatcher build: sutDispatcher's or
// sutBaseline's.
func (h *harness) binOf(sut string) string {
	if sut == sutBaseline {
		return h.baselineBin
	}
	return h.dispatcherBin
}

// newHarness makes the temp dir and builds nats-server (from the module in
// go.mod) and dispatcher.
func newHarness(ctx context.Context, o options, procs *procSet, stderr io.Writer) (*harness, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	modRoot, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "dispatch-bench-")
	if err != nil {
		return nil, err
	}
	h := &harness{opt: o, procs: procs, stderr: stderr, root: root, selfBin: self,
		natsBin:       filepath.Join(root, "bin", "nats-server"),
		dispatcherBin: filepath.Join(root, "bin", "dispatcher"),
	}
	if o.baseline != "" {
		if h.baselineBin, err = filepath.Abs(o.baseline); err != nil {
			h.close()
			return nil, err
		}
		if st, err := os.Stat(h.baselineBin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			h.close()
			return nil, fmt.Errorf("-baseline-bin %s: not an executable file (%v)", o.baseline, err)
		}
	}
	builds := [][2]string{{h.natsBin, "github.com/nats-io/nats-server/v2"}}
	if o.dispatcher != "" {
		if h.dispatcherBin, err = filepath.Abs(o.dispatcher); err != nil {
			h.close()
			return nil, err
		}
	} else {
		builds = append(builds, [2]string{h.dispatcherBin, "./cmd/dispatcher"})
		h.builtFrom = workTreeCommit(ctx, modRoot)
	}
	fmt.Fprintf(stderr, "bench: building %d binaries in %s\n", len(builds), filepath.Join(root, "bin"))
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(builds))
	for i, b := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
			cmd.Dir = modRoot
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %w\n%s", b[1], err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		h.close()
		return nil, err
	}
	fmt.Fprintf(stderr, "bench: built in %s\n", time.Since(start).Round(100*time.Millisecond))
	return h, nil
}

// describeBuild names a dispatcher binary: its path and the commit it was
// built from, when the build stamped one (go build in a git work tree does).
func describeBuild(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return path
	}
	var rev, modified, at string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	if rev == "" {
		return path
	}
	desc := fmt.Sprintf("%s (commit %.12s of %s", path, rev, at)
	if modified == "true" {
		desc += ", with uncommitted changes"
	}
	return desc + ")"
}

// workTreeCommit is the commit checked out in dir and whether the work
// tree has changes, for a build made without VCS stamping
// (GOFLAGS=-buildvcs=false); empty when git cannot tell.
func workTreeCommit(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "log", "-1", "--format=%h %cI").Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return ""
	}
	desc := fmt.Sprintf("%s (commit %s of %s", dir, f[0], f[1])
	if st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		desc += ", with uncommitted changes"
	}
	return desc + ")"
}

// moduleRoot is the directory of the go.mod governing the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the dispatcher module (go run ./tests/bench)")
	}
	return filepath.Dir(gomod), nil
}

func (h *harness) close() {
	if h.opt.keep {
		fmt.Fprintf(h.stderr, "bench: kept %s\n", h.root)
		return
	}
	if err := os.RemoveAll(h.root); err != nil {
		fmt.Fprintln(h.stderr, "bench:", err)
	}
}

// runOrder is the order of the systems in repeat r (0-based): the
// rotations of the systems in turn, then, for an odd number of them, the
// rotations of the reverse (a Williams design). Two systems run A B, B A,
// A B, …; three run A B C, B C A, C A B, C B A, A C B, B A C, again and
// again: each takes each place once every 3 repeats, and each follows each
// other one equally often every 6.
func runOrder(suts []string, r int) []string {
	n := len(suts)
	if n == 0 {
		return nil
	}
	cycle := n
	if n%2 == 1 && n > 1 {
		cycle = 2 * n
	}
	k := r % cycle
	order := make([]string, n)
	for i := range order {
		order[i] = suts[(i+k)%n]
	}
	if k >= n {
		slices.Reverse(order)
	}
	return order
}

// runAll runs every scenario for every system, repeat after repeat, in the
// order runOrder gives each repeat.
func (h *harness) runAll(ctx context.Context) *report {
	rep := newReport(h.opt)
	rep.Builds = map[string]string{}
	for _, sut := range h.opt.suts {
		if isDispatcher(sut) {
			rep.Builds[sut] = describeBuild(h.binOf(sut))
			if sut == sutDispatcher && h.builtFrom != "" && rep.Builds[sut] == h.dispatcherBin {
				rep.Builds[sut] = "built from " + h.builtFrom
			}
		}
	}
	scenarios := expandScenarios(h.opt)
	total := 0
	for _, sc := range scenarios {
		for _, sut := range h.opt.suts {
			if runs(sc, sut) {
				total += h.opt.repeats
			}
		}
	}
	i := 0
	for r := range h.opt.repeats {
		order := runOrder(h.opt.suts, r)
		for _, sc := range scenarios {
			for _, sut := range order {
				if !runs(sc, sut) {
					continue
				}
				if ctx.Err() != nil {
					rep.finish()
					return rep
				}
				i++
				res := h.runOne(ctx, sc, sut, r+1, rep)
				if ctx.Err() != nil && res.Error != "" {
					rep.finish()
					return rep // interrupted: the run's figures mean nothing
				}
				rep.add(res)
				fmt.Fprintf(h.stderr, "bench: [%d/%d] %s\n", i, total, res.headline())
				if h.opt.verbose {
					res.printDetails(h.stderr)
				}
			}
		}
	}
	rep.finish()
	return rep
}

// runs reports whether scenario sc applies to system sut: scaleout and the
// targets steps are dispatcher's (and its baseline's) alone, but for the
// 1-target step.
func runs(sc, sut string) bool {
	switch {
	case sc == scScaleout:
		return isDispatcher(sut)
	case isTargetsStep(sc):
		return isDispatcher(sut) || sc == targetsOne
	}
	return true
}

// run is one scenario against one system on a fresh nats-server and sink.
type run struct {
	h      *harness
	sc     string
	sut    string
	repeat int
	dir    string
	b      *broker
	sink   *sinkClient
	proc   *proc   // the system under test
	extra  []*proc // more instances of it (scaleout)
	res    *runResult
	prior  *report
	// naiveEndpoint is naive's -endpoint; empty: the sink's URL.
	naiveEndpoint string
	// httpToken is dispatcher's http.token; empty: none.
	httpToken string
}

func (h *harness) runOne(ctx context.Context, sc, sut string, repeat int, prior *report) runResult {
	res := runResult{Scenario: sc, SUT: sut, Repeat: repeat, Metrics: map[string]float64{}, LoadAvg: loadAvg()}
	start := time.Now()
	r := &run{h: h, sc: sc, sut: sut, repeat: repeat, res: &res, prior: prior,
		dir: filepath.Join(h.root, fmt.Sprintf("%d-%s-%s", repeat, sc, sut))}
	err := r.do(ctx)
	r.teardown()
	if err != nil {
		res.Error = err.Error()
	}
	res.Seconds = time.Since(start).Seconds()
	return res
}

func (r *run) do(ctx context.Context) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	var err error
	if r.b, err = r.h.startBroker(ctx, r.dir, r.sut == sutBaseline || (r.sut == sutDispatcher && r.h.opt.dispatcherPerTarget)); err != nil {
		return err
	}
	seed := r.h.opt.flakySeed + uint64(r.repeat-1)
	if r.sink, err = r.h.startSink(ctx, r.dir, seed); err != nil {
		return err
	}
	switch r.sc {
	case scDrain:
		return r.drain(ctx)
	case scRate:
		return r.rate(ctx)
	case scIsolation:
		return r.isolation(ctx, r.h.opt.nIsoHole)
	case scAlone:
		return r.isolation(ctx, 0)
	case scFlaky:
		return r.flaky(ctx)
	case scFlakyRandom:
		return r.flakyRandom(ctx)
	case scScaleout:
		return r.scaleout(ctx)
	}
	if st, ok := stepOf(targetsSteps(r.h.opt), r.sc); ok {
		return r.targets(ctx, st)
	}
	return fmt.Errorf("unknown scenario %q", r.sc)
}

// teardown stops the system, the sink and the server, in that order, and
// summarises dispatcher's log.
func (r *run) teardown() {
	for _, p := range r.extra {
		if killed := p.stop(40 * time.Second); killed {
			r.note("%s did not stop within 40s of SIGTERM; killed", p.name)
		}
		for _, n := range summariseLog(p.log.Name()).notes() {
			r.note("%s: %s", p.name, n)
		}
	}
	if r.proc != nil {
		r.stopSUT()
		if isDispatcher(r.sut) {
			r.res.Log = summariseLog(r.proc.log.Name())
			r.res.Notes = append(r.res.Notes, r.res.Log.notes()...)
		}
	}
	if r.sink != nil {
		r.sink.proc.stop(5 * time.Second)
	}
	if r.b != nil {
		r.b.close()
	}
}

// stopSUT sends SIGTERM and waits (bounded) for the system to exit.
func (r *run) stopSUT() {
	if killed := r.proc.stop(40 * time.Second); killed {
		r.note("%s did not stop within 40s of SIGTERM; killed", r.sut)
	}
}

func (r *run) note(format string, args ...any) {
	r.res.Notes = append(r.res.Notes, fmt.Sprintf(format, args...))
}

// startSUT starts the system under test for this run's scenario. targets
// are dispatcher's targets section; naive gets clientTimeout.
func (r *run) startSUT(targets map[string]any, clientTimeout time.Duration) error {
	var argv []string
	switch r.sut {
	case sutNaive:
		endpoint := r.sink.url
		if r.naiveEndpoint != "" {
			endpoint = r.naiveEndpoint
		}
		argv = []string{r.h.selfBin, "naive", "-nats-url", r.b.url, "-endpoint", endpoint,
			"-workers", "64", "-timeout", clientTimeout.String()}
	case sutDispatcher, sutBaseline:
		c := dispatcherConfig(r.b.url, targets)
		if r.httpToken != "" {
			c["http"].(map[string]any)["token"] = r.httpToken
		}
		cfg, err := yaml.Marshal(c)
		if err != nil {
			return err
		}
		path := filepath.Join(r.dir, "dispatcher.yaml")
		if err := os.WriteFile(path, cfg, 0o644); err != nil {
			return err
		}
		argv = []string{r.h.binOf(r.sut), "serve", "--config", path, "--log-level", "info"}
		if d := r.h.opt.cpuProfileDir; d != "" {
			argv = append(argv, "--cpuprofile", filepath.Join(d, filepath.Base(r.dir)+".prof"))
		}
	default:
		return fmt.Errorf("unknown system %q", r.sut)
	}
	p, err := r.h.procs.start(r.sut, filepath.Join(r.dir, r.sut+".log"), argv...)
	if err != nil {
		return err
	}
	r.proc = p
	return nil
}

// dispatcherConfig is the config of every dispatcher run: 64 concurrency,
// retries and breakers on. The breaker trips on 25 failures in a row (the
// contract's default 5 is meant for a target that fails outright: with 64
// calls in flight and 20% random 503s, five in a row come every ~3,000
// calls, which would send a merely flaky target's jobs to fallback), or on
// a 50% failure ratio over 20+ calls.
func dispatcherConfig(natsURL string, targets map[string]any) map[string]any {
	return map[string]any{
		"service_name": "bench-dispatcher",
		"nats":         map[string]any{"url": natsURL},
		"http":         map[string]any{"listen": "127.0.0.1:0"},
		"security":     map[string]any{"allow_private_networks": true},
		"defaults": map[string]any{
			"concurrency": 64,
			"retry":       map[string]any{"max_attempts": 5, "initial_interval": "1s", "randomization": 0.2},
			"breaker":     map[string]any{"consecutive_failures": 25, "failure_ratio": 0.5, "min_requests": 20},
		},
		"targets": targets,
	}
}

// errNotReady is wrapped by waitReady's error when the timeout passed.
var errNotReady = errors.New("not ready")

// waitReady waits until the system consumes: naive's "ready" line, or
// dispatcher's (or the baseline's) /readyz answering 200.
func (r *run) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if r.sut == sutNaive {
		line, err := r.proc.waitFirstLine(ctx, timeout)
		if err != nil {
			return err
		}
		if line != "ready" {
			return fmt.Errorf("naive: unexpected first line %q", line)
		}
		return nil
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	addr := ""
	for {
		if err := r.proc.exitedEarly(); err != nil {
			return err
		}
		if addr == "" {
			addr = healthAddr(r.proc.log.Name())
		}
		if addr != "" {
			if resp, err := hc.Get("http://" + addr + "/readyz"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w within %s (see %s)", r.sut, errNotReady, timeout, r.proc.log.Name())
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// healthAddr finds the health listener's address in dispatcher's log.
func healthAddr(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte("health listening")) {
			continue
		}
		var line struct {
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Addr != "" {
			return line.Addr
		}
	}
	return ""
}

// sinkClient talks to the sink child.
type sinkClient struct {
	proc *proc
	url  string
	hc   *http.Client
}

// startSink starts the sink; seed seeds its /flaky-random draws.
func (h *harness) startSink(ctx context.Context, dir string, seed uint64) (*sinkClient, error) {
	p, err := h.procs.start("sink", filepath.Join(dir, "sink.log"),
		h.selfBin, "sink", "-listen", "127.0.0.1:0", "-flaky-p", fmt.Sprint(h.opt.flakyP), "-seed", fmt.Sprint(seed))
	if err != nil {
		return nil, err
	}
	s := &sinkClient{proc: p, hc: &http.Client{Timeout: 90 * time.Second}}
	line, err := p.waitFirstLine(ctx, 10*time.Second)
	if err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	u, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		p.stop(5 * time.Second)
		return nil, fmt.Errorf("sink: unexpected first line %q", line)
	}
	s.url = u
	return s, nil
}

func (s *sinkClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sink %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("sink %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (s *sinkClient) stats(ctx context.Context) (sinkStats, error) {
	var st sinkStats
	err := s.get(ctx, "/_stats", &st)
	return st, err
}

func (s *sinkClient) dump(ctx context.Context) (map[string]int64, error) {
	var d map[string]int64
	err := s.get(ctx, "/_dump", &d)
	return d, err
}

// waitOK waits until n distinct ids were answered 2xx or deadline passes;
// it fails early when the system under test exits.
func (r *run) waitOK(ctx context.Context, n int, deadline time.Time) (st sinkStats, reached bool, err error) {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			st, err = r.sink.stats(ctx)
			return st, err == nil && st.OKIDs >= n, err
		}
		poll := min(left, time.Second)
		q := url.Values{"n": {fmt.Sprint(n)}, "timeout": {poll.String()}}
		if err := r.sink.get(ctx, "/_wait?"+q.Encode(), &st); err != nil {
			return st, false, err
		}
		if st.OKIDs >= n {
			return st, true, nil
		}
		if r.proc != nil {
			if err := r.proc.exitedEarly(); err != nil {
				return st, false, err
			}
		}
	}
}
