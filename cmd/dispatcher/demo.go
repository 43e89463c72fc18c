package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
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

// demoTarget is the local flaky HTTP target of the demo.
func demoTarget() (*http.Server, string, error) {
	var mu sync.Mutex
	seen := map[string]int{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		seen[key]++
		n := seen[key]
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
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
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
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
    retry: {max_attempts: 1}
    breaker: {consecutive_failures: 2, open_timeout: 30s}
    fallback: {status: 202, body: {queued: true}}
`

type demoJob struct {
	target, id, path, expect string
	raw                      []byte
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
	target, targetURL, err := demoTarget()
	if err != nil {
		return runtimeErr(err)
	}
	defer target.Close()
	cfg, err := config.Parse([]byte(fmt.Sprintf(demoConfig, closedAddr(), store, targetURL, closedAddr())), os.LookupEnv)
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
	dlq := deadletter.NewStore(js, topo.Prefix, topo.DLQStream())
	results := make(chan schemas.Result, 64)
	sub, err := nc.Subscribe("demo.results", func(m *nats.Msg) {
		var r schemas.Result
		if json.Unmarshal(m.Data, &r) == nil {
			results <- r
		}
	})
	if err != nil {
		return runtimeErr(err)
	}
	defer sub.Unsubscribe()

	jobs := []demoJob{
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
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	for i, j := range jobs {
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
		m := nats.NewMsg(topo.JobsSubject(j.target))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, j.id)
		if _, err := js.PublishMsg(pctx, m); err != nil {
			return runtimeErr(fmt.Errorf("publish %s: %w", j.id, err))
		}
	}

	// Wait for an outcome for every job: a result, or a dead letter for the
	// two that have no reply_to (invalid, unknown target).
	type outcome struct {
		where, detail string
		attempts      int
	}
	got := map[string]outcome{}
	deadline := time.After(30 * time.Second)
	for len(got) < len(jobs) {
		select {
		case r := <-results:
			d := fmt.Sprintf("status %d", r.Status)
			if r.ErrorClass != "" {
				d = r.ErrorClass + ": " + r.Error
			}
			if r.Outcome == schemas.OutcomeFallback && r.Fallback != nil {
				d = fmt.Sprintf("fallback answer %d %s", r.Fallback.Status, string(r.Fallback.Body))
			}
			got[r.JobID] = outcome{r.Outcome, d, r.Attempts}
		case <-time.After(250 * time.Millisecond):
			for _, id := range []string{"demo-invalid", "demo-orphan"} {
				if _, ok := got[id]; ok {
					continue
				}
				if dl := findDeadLetter(ctx, dlq, id); dl != nil {
					got[id] = outcome{schemas.OutcomeDeadLettered, dl.Reason + ": " + dl.Error, dl.Attempts}
				}
			}
		case <-deadline:
			fmt.Fprintln(out, "(gave up waiting after 30s; some jobs have no outcome yet)")
			goto print
		}
	}
print:
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tTARGET\tSTORY\tOUTCOME\tATTEMPTS\tDETAIL")
	for _, j := range jobs {
		o, ok := got[j.id]
		if !ok {
			o = outcome{where: "(none yet)"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", j.id, j.target, j.expect, o.where, o.attempts, clip(o.detail, 70))
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
	fmt.Fprintf(out, "\n\nDead letters are on dispatch.dlq.<target> (stream DISPATCH_DLQ), fallbacks on dispatch.fallback.<target>.\n")
	cancel()
	if err := <-runErr; err != nil {
		log.Warn("demo service stopped with an error", zap.Error(err))
	}
	return nil
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
