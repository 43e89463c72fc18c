package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/schemas"
)

type lagFlags struct {
	conn       connFlags
	targets    []string
	asJSON     bool
	watch      bool
	interval   time.Duration
	maxPending int64
}

func newLagCmd() *cobra.Command {
	var f lagFlags
	cmd := &cobra.Command{
		Use:   "lag",
		Short: "Show each target's backlog: pending, in flight, retrying, dead letters, orphans",
		Long: `lag reads every target's backlog from JetStream; it works whether or not
'dispatcher serve' is running, and changes nothing.

  PENDING      jobs never delivered to a worker
  IN FLIGHT    jobs delivered and awaiting their ack
  RETRYING     jobs waiting for a scheduled retry
  REDELIVERED  jobs in flight that were delivered more than once
  DEAD         dead-letter records of the target
  FALLBACK     fallback records of the target
  OLDEST       age of the oldest pending job
  LAST ACTIVE  the consumer's last delivery or ack ("no consumer": the
               service has not run with this target yet)
  HELD         shown while a target is held (breaker.when_open: hold with
               every endpoint's breaker open): its consumer is paused for
               this long more; jobs wait in the stream

ORPHANS are subjects of the jobs stream that no target's consumer reads, with
their job counts: jobs published for a target that is not configured.
With --config, the config's targets are listed even before their consumer
exists, and are never orphans.

--watch redraws every --interval and adds DELIV/S (deliveries per second over
the last interval) and DRAIN (pending divided by that rate). --max-pending N
exits with status 3 when any target's PENDING is above N, for cron and CI.`,
		Example: `  dispatcher lag
  dispatcher lag --config /etc/dispatcher.yaml --target payments
  dispatcher lag --watch --interval 1s
  dispatcher lag --json | jq '.targets[] | select(.pending > 0)'
  dispatcher lag --max-pending 10000 || alert "dispatcher backlog"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLag(cmd, &f) },
	}
	f.conn.register(cmd)
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.targets, "target", "t", nil, "only these targets")
	fl.BoolVar(&f.asJSON, "json", false, "print a JSON document: {\"targets\": [...], \"orphans\": [...]}")
	fl.BoolVarP(&f.watch, "watch", "w", false, "redraw every --interval with delivery rates and time to drain")
	fl.DurationVar(&f.interval, "interval", 2*time.Second, "how often --watch redraws")
	fl.Int64Var(&f.maxPending, "max-pending", -1, "exit with status 3 when any target's PENDING is above this (-1: no check)")
	envFlags(cmd, "watch", "json")
	completeTargets(cmd, "target")
	return cmd
}

func runLag(cmd *cobra.Command, f *lagFlags) error {
	switch {
	case f.watch && f.maxPending >= 0:
		return usageErr("--max-pending is a one-shot check (for cron and CI); drop --watch")
	case f.interval < 100*time.Millisecond:
		return usageErr("--interval %v: at least 100ms", f.interval)
	case f.maxPending < -1:
		return usageErr("--max-pending %d: want a number of jobs, or -1 for no check", f.maxPending)
	}
	for _, t := range f.targets {
		if err := checkTargetFlag(t); err != nil {
			return err
		}
	}
	nc, js, conn, err := f.conn.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	set := dispatcher.LagSettings{Known: conn.knownTargets(), Only: f.targets}
	read := func(ctx context.Context) (*dispatcher.Lag, error) { return readLag(ctx, js, conn.topology(), set) }
	if f.watch {
		return watchLag(cmd, f, read)
	}
	lag, err := read(cmd.Context())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(lag); err != nil {
			return err
		}
	} else {
		writeLag(out, lag, nil, termWidth(out))
	}
	return checkPending(lag, f.maxPending)
}

// readLag reads what 'dispatcher lag' shows: every target's backlog and
// the fleet view, within 10s.
func readLag(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, set dispatcher.LagSettings) (*dispatcher.Lag, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lag, err := dispatcher.ReadLag(ctx, js, topo, set)
	if errors.Is(err, dispatcher.ErrNoJobsStream) {
		return nil, runtimeErr(fmt.Errorf("%w; has 'dispatcher serve' run against this NATS server?", err))
	}
	if err != nil {
		return nil, runtimeErr(err)
	}
	fl, err := dispatcher.ReadFleet(ctx, js, topo, lag.At)
	if err != nil {
		return nil, runtimeErr(err)
	}
	lag.Fleet = fl
	return lag, nil
}

// checkPending is the --max-pending check.
func checkPending(lag *dispatcher.Lag, maxPending int64) error {
	if maxPending < 0 {
		return nil
	}
	var over []string
	for _, t := range lag.Targets {
		if t.Pending > uint64(maxPending) {
			over = append(over, fmt.Sprintf("%s has %d pending", t.Target, t.Pending))
		}
	}
	if len(over) == 0 {
		return nil
	}
	return &exitError{code: exitCheck, err: fmt.Errorf("--max-pending %d exceeded: %s", maxPending, strings.Join(over, "; "))}
}

// rates are a watch's per-target deliveries per second.
type rates map[string]float64

// watchLag redraws the lag table every interval until interrupted.
func watchLag(cmd *cobra.Command, f *lagFlags, read func(context.Context) (*dispatcher.Lag, error)) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()
	tty := isTerminal(out)
	var prev *dispatcher.Lag
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		lag, err := read(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		r := rates{}
		if prev != nil {
			dt := lag.At.Sub(prev.At).Seconds()
			before := map[string]uint64{}
			for _, t := range prev.Targets {
				before[t.Target] = t.Delivered
			}
			for _, t := range lag.Targets {
				if b, ok := before[t.Target]; ok && dt > 0 && t.Delivered >= b {
					r[t.Target] = float64(t.Delivered-b) / dt
				}
			}
		}
		switch {
		case f.asJSON:
			_ = json.NewEncoder(out).Encode(struct {
				*dispatcher.Lag
				DeliveredPerSecond rates `json:"delivered_per_second"`
			}{lag, r})
		case tty:
			fmt.Fprint(out, "\x1b[H\x1b[2J") // home, clear: redraw in place
			fmt.Fprintf(out, "dispatcher lag  %s  every %s  (Ctrl-C to stop)\n\n", lag.At.Local().Format("15:04:05"), f.interval)
			writeLag(out, lag, r, termWidth(out))
		default:
			fmt.Fprintf(out, "--- %s\n", lag.At.Format(time.RFC3339))
			writeLag(out, lag, r, 0)
		}
		prev = lag
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// writeLag prints the targets table and the orphans. r, when not nil, adds
// the watch columns.
func writeLag(w io.Writer, lag *dispatcher.Lag, r rates, width int) {
	head := []string{"TARGET", "PENDING", "IN FLIGHT", "RETRYING", "REDELIVERED", "DEAD", "FALLBACK", "OLDEST", "LAST ACTIVE"}
	held := slices.ContainsFunc(lag.Targets, func(tl dispatcher.TargetLag) bool { return tl.Paused })
	if held {
		head = append(head, "HELD")
	}
	if r != nil {
		head = append(head, "DELIV/S", "DRAIN")
	}
	t := &table{head: head}
	for _, tl := range lag.Targets {
		oldest := "-"
		if tl.OldestPendingAt != nil {
			oldest = age(time.Duration(tl.OldestPendingSeconds * float64(time.Second)))
		}
		active := "never"
		switch {
		case tl.Consumer == "":
			active = "no consumer"
		case tl.LastActive != nil:
			active = age(lag.At.Sub(*tl.LastActive)) + " ago"
		}
		row := []string{tl.Target, n(tl.Pending), strconv.Itoa(tl.InFlight), n(tl.Retrying), strconv.Itoa(tl.Redelivered),
			n(tl.Dead), n(tl.Fallback), oldest, active}
		if held {
			h := "-"
			if tl.Paused && tl.PausedUntil != nil {
				h = age(tl.PausedUntil.Sub(lag.At))
			}
			row = append(row, h)
		}
		if r != nil {
			rate, ok := r[tl.Target]
			switch {
			case !ok:
				row = append(row, "…", "…")
			case tl.Pending == 0:
				row = append(row, fmt.Sprintf("%.1f", rate), "-")
			case rate == 0:
				row = append(row, "0.0", "stalled")
			default:
				row = append(row, fmt.Sprintf("%.1f", rate), drain(time.Duration(float64(tl.Pending)/rate*float64(time.Second))))
			}
		}
		t.add(row...)
	}
	if len(t.rows) == 0 {
		fmt.Fprintf(w, "no targets in %s (no consumers, no dead letters; pass --config to list configured targets)\n", lag.JobsStream)
	} else {
		_ = t.write(w, width)
	}
	writeFleet(w, lag, width)
	if len(lag.Orphans) > 0 {
		fmt.Fprintln(w, "\nORPHANS: jobs that no target's consumer reads")
		o := &table{head: []string{"SUBJECT", "JOBS", "OLDEST"}}
		for _, or := range lag.Orphans {
			oldest := "-"
			if or.OldestAt != nil {
				oldest = age(time.Duration(or.OldestSeconds * float64(time.Second)))
			}
			o.add(or.Subject, n(or.Messages), oldest)
		}
		_ = o.write(w, width)
	}
}

// writeFleet prints the live instances with how many targets each serves
// and its quotas of the fleet-scope targets' limits, and the breakers some
// instance holds open for the whole fleet.
func writeFleet(w io.Writer, lag *dispatcher.Lag, width int) {
	fl := lag.Fleet
	if fl == nil {
		return
	}
	fmt.Fprintf(w, "\nFLEET: %d instance(s) live\n", len(fl.Instances))
	if len(fl.Instances) > 0 {
		t := &table{head: []string{"INSTANCE", "SERVICE", "UP", "TARGETS", "FLEET QUOTAS (concurrency, calls/s)"}}
		for _, in := range fl.Instances {
			var lim []string
			for _, tl := range in.Targets {
				l := fmt.Sprintf("%s %d", tl.Target, tl.Concurrency)
				if tl.PerSecond > 0 {
					l += fmt.Sprintf(" %.4g/s", tl.PerSecond)
				}
				lim = append(lim, l)
			}
			if in.TargetsOmitted > 0 {
				lim = append(lim, fmt.Sprintf("and %d more", in.TargetsOmitted))
			}
			quotas := strings.Join(lim, ", ")
			if quotas == "" {
				quotas = "-"
			}
			t.add(in.Instance, in.ServiceName, age(lag.At.Sub(in.StartedAt)), strconv.Itoa(in.TargetCount), quotas)
		}
		_ = t.write(w, width)
	}
	if len(fl.OpenBreakers) > 0 {
		fmt.Fprintln(w, "\nBREAKERS OPEN FOR THE FLEET")
		t := &table{head: []string{"TARGET", "ENDPOINT", "STATE", "FOR", "BY"}}
		for _, b := range fl.OpenBreakers {
			t.add(b.Target, b.Endpoint, b.State.String(), age(b.Until.Sub(lag.At)), b.By)
		}
		_ = t.write(w, width)
	}
}

// drain prints an estimated time to drain, rounded up to the second.
func drain(d time.Duration) string {
	if d < time.Second {
		return "<1s"
	}
	return age(d.Round(time.Second))
}

func n(v uint64) string { return strconv.FormatUint(v, 10) }

// age prints a duration the way kubectl prints ages: 45s, 3m12s, 2h5m, 3d4h.
func age(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}
