package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
)

func newDemoCmd() *cobra.Command {
	var logLevel string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run everything locally and show where each kind of job ends",
		Long: `demo starts an embedded NATS server, a local target that is sometimes healthy,
sometimes 503, sometimes slow and sometimes refusing, a target that is down, and
the workers; it publishes sample jobs and prints where each one ended:
delivered, delivered after retries, dead-lettered (and why) or fallback.

Then it heals both targets, shows the backlog as 'dispatcher lag' does, waits
until the down target's breaker lets a probe through, replays every dead letter
as 'dispatcher dlq replay --all' does, and prints where each replayed job ended:
delivered now, dead-lettered again when the job itself was the problem (expired,
no such target), or kept when it cannot be replayed (invalid). A last lag view
shows what is left. It takes a few seconds.

Nothing is left behind unless --keep is given.`,
		Example: `  dispatcher demo
  dispatcher demo --log-level info   # also show the service's JSON logs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, logLevel, keep) },
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "error", "service log level shown on stderr")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the demo's NATS store directory")
	return cmd
}

// demoTarget is the demo's local HTTP target: flaky by path until healed,
// then 200 to everything. It may serve on several addresses.
type demoTarget struct {
	healed  atomic.Bool
	mu      sync.Mutex
	seen    map[string]int // calls by Idempotency-Key
	servers []*http.Server
}

func newDemoTarget() *demoTarget { return &demoTarget{seen: map[string]int{}} }

func (d *demoTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	d.mu.Lock()
	d.seen[key]++
	n := d.seen[key]
	d.mu.Unlock()
	_, _ = io.Copy(io.Discard, r.Body)
	if d.healed.Load() {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"healed":true,"call":%d}`, n)
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/flaky") && n <= 2:
		http.Error(w, "try again", http.StatusServiceUnavailable)
	case strings.HasPrefix(r.URL.Path, "/limited") && n == 1:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case strings.HasPrefix(r.URL.Path, "/slow"):
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
			return
		}
		fmt.Fprintln(w, `{"late":true}`)
	case strings.HasPrefix(r.URL.Path, "/invalid-order"):
		http.Error(w, `{"error":"amount must be positive"}`, http.StatusUnprocessableEntity)
	case strings.HasPrefix(r.URL.Path, "/broken"):
		http.Error(w, "boom", http.StatusInternalServerError)
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"attempt":%d}`, n)
	}
}

// serve serves the target on addr (127.0.0.1:0 for a free port) until
// close, and returns its base URL.
func (d *demoTarget) serve(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 5 * time.Second}
	d.mu.Lock()
	d.servers = append(d.servers, srv)
	d.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// close stops every server of the target, and the calls they hold.
func (d *demoTarget) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, srv := range d.servers {
		_ = srv.Close()
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:9"
	}
	defer ln.Close()
	return ln.Addr().String()
}

const demoConfig = `# The demo's config: the same format as 'dispatcher serve --config'.
service_name: dispatcher-demo
nats:
  embedded: {listen: %q, store_dir: %q}
http:
  listen: 127.0.0.1:0
shutdown_timeout: 5s
orphan_grace: 1s
security:
  allow_private_networks: true   # the demo's targets live on 127.0.0.1
defaults:
  concurrency: 8
  timeouts: {connect: 500ms, tls: 1s, response_header: 1s, total: 1s}
  retry: {max_attempts: 3, initial_interval: 300ms, multiplier: 2, randomization: 0.2, max_retry_after: 5s}
targets:
  shop:
    endpoints: [%q]
    headers: {Authorization: "Bearer demo-secret"}
    breaker: {consecutive_failures: 50}
  legacy:
    endpoints: ["http://%s"]
    concurrency: 1                 # one call at a time: the breaker story reads in order
    retry: {max_attempts: 1}
    breaker: {consecutive_failures: 2, open_timeout: 3s}
    fallback: {status: 202, body: {queued: true}}
`

type demoJob struct {
	target, id, path, expect string
	raw                      []byte
}

// demoJobs are the sample jobs, one per story.
var demoJobs = []demoJob{
	{"shop", "demo-ok", "/orders/ok", "delivered at once", nil},
	{"shop", "demo-flaky", "/flaky/orders", "503 twice, then delivered", nil},
	{"shop", "demo-limited", "/limited/orders", "429 with Retry-After: 1, then delivered", nil},
	{"shop", "demo-slow", "/slow/orders", "too slow every time: timeouts, dead-lettered", nil},
	{"shop", "demo-422", "/invalid-order", "422 is not worth retrying: dead-lettered", nil},
	{"shop", "demo-500", "/broken", "500 on every try: dead-lettered when exhausted", nil},
	{"legacy", "demo-down-1", "/a", "refused: dead-lettered", nil},
	{"legacy", "demo-down-2", "/b", "refused again: the breaker opens", nil},
	{"legacy", "demo-down-3", "/c", "breaker open: fallback, no call", nil},
	{"shop", "demo-expired", "/orders/late", "not_after already passed: dead-lettered", nil},
	{"shop", "demo-invalid", "", "not a valid job: dead-lettered as invalid", []byte(`{"id":"demo-invalid","path":"no-slash"}`)},
	{"nowhere", "demo-orphan", "/x", "no such target: dead-lettered after orphan_grace", nil},
}

// demoRun is what the steps of the demo share.
type demoRun struct {
	out     io.Writer
	cfg     *config.Config
	js      jetstream.JetStream
	topo    schemas.Topology
	dlq     *deadletter.Store
	results chan schemas.Result
	// deadOnly are the jobs whose outcome is only a dead letter, no
	// result: undecodable, or for a target that is not configured.
	deadOnly map[string]bool
}

// outcome is where a job ended, as the demo prints it.
type outcome struct {
	where, detail string
	attempts      int
}

func runDemo(cmd *cobra.Command, logLevel string, keep bool) error {
	out := cmd.OutOrStdout()
	log, err := newLogger(logLevel)
	if err != nil {
		return err
	}
	store, err := os.MkdirTemp("", "dispatcher-demo-")
	if err != nil {
		return runtimeErr(err)
	}
	if !keep {
		defer os.RemoveAll(store)
	}
	target := newDemoTarget()
	defer target.close()
	targetURL, err := target.serve("127.0.0.1:0")
	if err != nil {
		return runtimeErr(err)
	}
	legacyAddr := closedAddr()
	cfg, err := config.Parse([]byte(fmt.Sprintf(demoConfig, closedAddr(), store, targetURL, legacyAddr)), os.LookupEnv)
	if err != nil {
		return runtimeErr(fmt.Errorf("demo config: %w", err))
	}

	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	ready := make(chan *dispatcher.Service, 1)
	runErr := make(chan error, 1)
	go func() {
		runErr <- dispatcher.Run(ctx, cfg, dispatcher.WithLogger(log), dispatcher.OnReady(func(s *dispatcher.Service) { ready <- s }))
	}()
	var svc *dispatcher.Service
	select {
	case svc = <-ready:
	case err := <-runErr:
		return runtimeErr(fmt.Errorf("demo service: %w", err))
	case <-time.After(30 * time.Second):
		return runtimeErr(errors.New("demo service not ready within 30s"))
	}
	fmt.Fprintf(out, "embedded NATS at %s, target at %s, health at http://%s/readyz\n\n", svc.NATSURL(), targetURL, svc.HTTPAddr())

	nc, err := nats.Connect(svc.NATSURL())
	if err != nil {
		return runtimeErr(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	topo := schemas.Topology{Prefix: cfg.NATS.SubjectPrefix}
	d := &demoRun{out: out, cfg: cfg, js: js, topo: topo, dlq: deadletter.NewStore(js, topo.Prefix, topo.DLQStream()),
		results: make(chan schemas.Result, 64), deadOnly: map[string]bool{}}
	sub, err := nc.Subscribe("demo.results", func(m *nats.Msg) {
		var r schemas.Result
		if json.Unmarshal(m.Data, &r) == nil {
			d.results <- r
		}
	})
	if err != nil {
		return runtimeErr(err)
	}
	defer sub.Unsubscribe()

	if err := d.publish(ctx); err != nil {
		return err
	}
	ids := make([]string, len(demoJobs))
	for i, j := range demoJobs {
		ids[i] = j.id
	}
	got, ok := d.awaitOutcomes(ctx, ids, 30*time.Second)
	if !ok {
		fmt.Fprintln(out, "(gave up waiting after 30s; some jobs have no outcome yet)")
	}
	d.printOutcomes(got)
	if err := d.healAndReplay(ctx, target, legacyAddr); err != nil {
		return err
	}
	cancel()
	if err := <-runErr; err != nil {
		log.Warn("demo service stopped with an error", zap.Error(err))
	}
	return nil
}

// publish publishes the sample jobs.
func (d *demoRun) publish(ctx context.Context) error {
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	for i, j := range demoJobs {
		if j.target == "legacy" && i > 0 {
			time.Sleep(200 * time.Millisecond) // keep the legacy jobs in order so the breaker story reads well
		}
		data := j.raw
		if data == nil {
			job := map[string]any{"id": j.id, "path": j.path, "body": map[string]any{"order": i}, "reply_to": "demo.results",
				"headers": map[string]string{"X-Api-Key": "also-a-secret"}}
			if j.id == "demo-expired" {
				job["not_after"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
			}
			data, _ = json.Marshal(job)
		}
		if j.raw != nil || !slices.Contains(d.cfg.TargetNames(), j.target) {
			d.deadOnly[j.id] = true
		}
		m := nats.NewMsg(d.topo.JobsSubject(j.target))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, j.id)
		if _, err := d.js.PublishMsg(pctx, m); err != nil {
			return runtimeErr(fmt.Errorf("publish %s: %w", j.id, err))
		}
	}
	return nil
}

// awaitOutcomes waits up to timeout for an outcome of every job of ids: a
// result, or a dead letter for the jobs that have no result (deadOnly). It
// reports whether every job got one.
func (d *demoRun) awaitOutcomes(ctx context.Context, ids []string, timeout time.Duration) (map[string]outcome, bool) {
	got := map[string]outcome{}
	deadline := time.After(timeout)
	for len(got) < len(ids) {
		select {
		case r := <-d.results:
			if !slices.Contains(ids, r.JobID) {
				continue
			}
			detail := fmt.Sprintf("status %d", r.Status)
			if r.ErrorClass != "" {
				detail = r.ErrorClass + ": " + r.Error
			}
			if r.Outcome == schemas.OutcomeFallback && r.Fallback != nil {
				detail = fmt.Sprintf("fallback answer %d %s", r.Fallback.Status, string(r.Fallback.Body))
			}
			got[r.JobID] = outcome{r.Outcome, detail, r.Attempts}
		case <-time.After(250 * time.Millisecond):
			for _, id := range ids {
				if _, ok := got[id]; ok || !d.deadOnly[id] {
					continue
				}
				if dl := findDeadLetter(ctx, d.dlq, id); dl != nil {
					got[id] = outcome{schemas.OutcomeDeadLettered, dl.Reason + ": " + dl.Error, dl.Attempts}
				}
			}
		case <-deadline:
			return got, false
		case <-ctx.Done():
			return got, false
		}
	}
	return got, true
}

// printOutcomes prints the first part of the story: where each sample job
// ended.
func (d *demoRun) printOutcomes(got map[string]outcome) {
	out := d.out
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tTARGET\tSTORY\tOUTCOME\tATTEMPTS\tDETAIL")
	for _, j := range demoJobs {
		o, ok := got[j.id]
		if !ok {
			o = outcome{where: "(none yet)"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", j.id, j.target, j.expect, escape(o.where), o.attempts, escape(clip(o.detail, 70)))
	}
	_ = tw.Flush()
	counts := map[string]int{}
	for _, o := range got {
		counts[o.where]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprint(out, "\n")
	for _, k := range keys {
		fmt.Fprintf(out, "%s: %d  ", k, counts[k])
	}
	fmt.Fprintf(out, "\n\nDead letters are on %s.dlq.<target> (stream %s), fallbacks on %s.fallback.<target>.\n",
		d.topo.Prefix, d.topo.DLQStream(), d.topo.Prefix)
}

// healAndReplay is the second part of the story: both targets healed, the
// lag view, every dead letter replayed (once the down target's breaker lets
// a probe through) and where each replayed job ended, the lag view again.
func (d *demoRun) healAndReplay(ctx context.Context, target *demoTarget, legacyAddr string) error {
	out := d.out
	target.healed.Store(true)
	if _, err := target.serve(legacyAddr); err != nil {
		fmt.Fprintf(out, "\nHealing: shop now answers 200 to everything; legacy could not come back on %s (%v).\n", legacyAddr, err)
	} else {
		fmt.Fprintf(out, "\nHealing: shop now answers 200 to everything, and legacy is back on %s.\n", legacyAddr)
	}
	lag, err := d.showLag(ctx)
	if err != nil {
		return err
	}
	var until time.Time
	for _, b := range lag.Fleet.OpenBreakers {
		if b.Target == "legacy" && b.Until != nil && b.Until.After(until) {
			until = *b.Until
		}
	}
	if wait := time.Until(until); wait > 0 {
		wait += 100 * time.Millisecond // past the breaker's own timer
		fmt.Fprintf(out, "\nlegacy's breaker is open for %s more (open_timeout); waiting, so that its first replayed job is the probe that closes it.\n",
			wait.Round(100*time.Millisecond))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return runtimeErr(ctx.Err())
		}
	}

	fmt.Fprintln(out, "\n$ dispatcher dlq replay --all")
	var (
		all   deadletter.Filter
		evs   []deadletter.ReplayEvent
		start = time.Now()
	)
	sel, err := d.dlq.Select(ctx, all)
	if err != nil {
		return storeErr(err)
	}
	rep, err := d.dlq.Replay(ctx, sel, deadletter.ReplaySettings{}, func(ev deadletter.ReplayEvent) { evs = append(evs, ev) })
	if err != nil {
		return storeErr(err)
	}
	printReplaySummary(out, rep, sel.Len(), all, time.Since(start).Round(time.Millisecond))

	var ids []string
	dropped := map[string]bool{}
	for _, ev := range evs {
		if ev.Outcome == deadletter.Replayed || ev.Outcome == deadletter.AlreadyReplayed {
			ids = append(ids, ev.JobID)
		}
		for _, h := range ev.Dropped {
			dropped[h] = true
		}
	}
	got, ok := d.awaitOutcomes(ctx, ids, 20*time.Second)
	if !ok {
		fmt.Fprintln(out, "(gave up waiting after 20s; some replayed jobs have no outcome yet)")
	}
	slices.SortFunc(evs, func(a, b deadletter.ReplayEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	t := &table{head: []string{"JOB", "TARGET", "DEAD LETTER", "REPLAY", "ENDED", "ATTEMPTS", "DETAIL"}}
	for _, ev := range evs {
		seq := strconv.FormatUint(ev.Seq, 10)
		if ev.Outcome != deadletter.Replayed && ev.Outcome != deadletter.AlreadyReplayed {
			t.add(or(ev.JobID, "-"), ev.Target, seq, string(ev.Outcome), "kept in "+d.dlq.Stream(), "-", clip(errText(ev.Err), 70))
			continue
		}
		o, ok := got[ev.JobID]
		if !ok {
			o = outcome{where: "(none yet)"}
		}
		t.add(ev.JobID, ev.Target, seq, string(ev.Outcome), o.where, strconv.Itoa(o.attempts), clip(o.detail, 70))
	}
	fmt.Fprintln(out)
	_ = t.write(out, termWidth(out))
	if len(dropped) > 0 {
		hs := slices.Sorted(maps.Keys(dropped))
		fmt.Fprintf(out, "\nThe replayed jobs went out without %s: their dead letters kept it only as [REDACTED].\n", strings.Join(hs, ", "))
	}
	_, err = d.showLag(ctx)
	return err
}

// showLag prints the lag view, as 'dispatcher lag' does, and returns it.
// It waits (up to 5s) for a settled view, with nothing pending, in flight or
// retrying: a job whose outcome is stored may still be on its way out of the
// jobs stream (an orphan's dead letter is stored before its job is deleted).
func (d *demoRun) showLag(ctx context.Context) (*dispatcher.Lag, error) {
	var lag *dispatcher.Lag
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		if lag, err = readLag(ctx, d.js, d.topo, dispatcher.LagSettings{Known: d.cfg.TargetNames()}); err != nil {
			return nil, err
		}
		settled := len(lag.Orphans) == 0 && !slices.ContainsFunc(lag.Targets, func(t dispatcher.TargetLag) bool {
			return t.Pending > 0 || t.Retrying > 0
		})
		if settled || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, runtimeErr(ctx.Err())
		}
	}
	fmt.Fprintln(d.out, "\n$ dispatcher lag")
	writeLag(d.out, lag, nil, termWidth(d.out))
	return lag, nil
}

// findDeadLetter returns the dead letter of job id, nil while there is
// none.
func findDeadLetter(ctx context.Context, store *deadletter.Store, id string) *schemas.DeadLetter {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var dl *schemas.DeadLetter
	_ = store.List(ctx, deadletter.Filter{JobIDs: []string{id}, Limit: 1}, func(r *deadletter.Record) error {
		var d schemas.DeadLetter
		if json.Unmarshal(r.Data, &d) == nil {
			dl = &d
		}
		return nil
	})
	return dl
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}
