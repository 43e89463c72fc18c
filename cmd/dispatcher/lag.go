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
		Short: "Show each target's backlog, the partitions' consumers, orphans and the fleet",
		Long: `lag reads every target's backlog from JetStream; it works whether or not
'dispatcher serve' is running, and changes nothing. A target's backlog is
read from the subjects its jobs are stored on, not from a consumer: the
consumers are shared by every target of a partition.

  PARTITION    the target's partition (streams.partitions)
  PENDING      jobs of the target stored in the streams: waiting for
               delivery, or delivered and not acked yet (in flight)
  LEGACY       shown while some are: the part of PENDING stored before
               partitions, drained through the target's old consumer
  RETRYING     scheduled copies waiting to fire: retries, postponements,
               jobs parked (a busy target, a hold, a pause)
  DEAD         dead-letter records of the target
  FALLBACK     fallback records of the target
  OLDEST       age of the oldest job counted in PENDING
  PAUSED       shown while a target is paused ('dispatcher pause'): how long
               the pause has left, or "until resumed"; PAUSED below says by
               whom and why. A hold is not a pause: see BREAKERS OPEN

PARTITIONS lists each partition's two consumers (jobs, and fired copies):
  PENDING      messages never delivered
  IN FLIGHT    delivered and awaiting their ack
  REDELIVERED  in flight and delivered more than once
  WAITING      pull requests of instances waiting for messages
  LAST ACTIVE  last delivery or ack
LEGACY CONSUMERS, while an upgrade drains them, are the per-target consumers
of a release before partitions.

ORPHANS are jobs of targets that no live instance serves and --config does
not name, by the subject they were published on, with the subject stored.
With --config, the config's targets are listed even without a backlog, and
are never orphans; without it, the targets of the live instances are.

--watch redraws every --interval and adds, per target, NET/S (the change of
PENDING per second over the last interval, negative while it drains) and
DRAIN (time to drain at that pace), and per consumer DELIV/S (deliveries
per second). --max-pending N exits with status 3 when any target's PENDING
is above N, for cron and CI.`,
		Example: `  dispatcher lag
  dispatcher lag --config /etc/dispatcher.yaml --target payments
  dispatcher lag --watch --interval 1s
  dispatcher lag --json | jq '.targets[] | select(.pending > 0)'
  dispatcher lag --json | jq '.partitions[] | {partition, in_flight: .jobs.in_flight}'
  dispatcher lag --max-pending 10000 || alert "dispatcher backlog"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLag(cmd, &f) },
	}
	f.conn.register(cmd)
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.targets, "target", "t", nil, "only these targets")
	fl.BoolVar(&f.asJSON, "json", false, "print a JSON document: {\"targets\": [...], \"partitions\": [...], \"orphans\": [...], ...}")
	fl.BoolVarP(&f.watch, "watch", "w", false, "redraw every --interval with the pace of each target's backlog and each consumer's deliveries")
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

// readLag reads what 'dispatcher lag' shows: the fleet view, then every
// target's backlog (the fleet's targets are not orphans), within 10s.
func readLag(ctx context.Context, js jetstream.JetStream, topo schemas.Topology, set dispatcher.LagSettings) (*dispatcher.Lag, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fl, err := dispatcher.ReadFleet(ctx, js, topo, time.Now().UTC())
	if err != nil {
		return nil, runtimeErr(err)
	}
	set.Serving = fl.Serving()
	if set.Pauses, err = dispatcher.ReadPauses(ctx, js, topo, time.Now()); err != nil {
		return nil, runtimeErr(err)
	}
	lag, err := dispatcher.ReadLag(ctx, js, topo, set)
	if errors.Is(err, dispatcher.ErrNoJobsStream) {
		return nil, runtimeErr(fmt.Errorf("%w; has 'dispatcher serve' run against this NATS server?", err))
	}
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

// rates are what a watch measures between two readings: the change of
// each target's PENDING and each consumer's deliveries, per second.
type rates struct {
	// Pending is by target: negative while its backlog drains.
	Pending map[string]float64 `json:"pending_change_per_second"`
	// Delivered is by consumer name (partitions' and legacy ones).
	Delivered map[string]float64 `json:"delivered_per_second"`
}

// measure returns the rates from prev to lag; empty maps without prev.
func measure(prev, lag *dispatcher.Lag) *rates {
	r := &rates{Pending: map[string]float64{}, Delivered: map[string]float64{}}
	if prev == nil {
		return r
	}
	dt := lag.At.Sub(prev.At).Seconds()
	if dt <= 0 {
		return r
	}
	before := map[string]uint64{}
	for _, t := range prev.Targets {
		before[t.Target] = t.Pending
	}
	for _, t := range lag.Targets {
		if b, ok := before[t.Target]; ok {
			r.Pending[t.Target] = (float64(t.Pending) - float64(b)) / dt
		}
	}
	delivered := map[string]uint64{}
	for _, c := range consumers(prev) {
		delivered[c.Consumer] = c.Delivered
	}
	for _, c := range consumers(lag) {
		if b, ok := delivered[c.Consumer]; ok && c.Delivered >= b {
			r.Delivered[c.Consumer] = float64(c.Delivered-b) / dt
		}
	}
	return r
}

// consumers are every consumer of lag: the partitions' and the legacy ones.
func consumers(lag *dispatcher.Lag) []dispatcher.ConsumerLag {
	var out []dispatcher.ConsumerLag
	for _, p := range lag.Partitions {
		for _, c := range []*dispatcher.ConsumerLag{p.Jobs, p.Due} {
			if c != nil {
				out = append(out, *c)
			}
		}
	}
	for _, l := range lag.LegacyConsumers {
		out = append(out, l.ConsumerLag)
	}
	return out
}

// watchLag redraws the lag view every interval until interrupted.
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
		r := measure(prev, lag)
		switch {
		case f.asJSON:
			_ = json.NewEncoder(out).Encode(watchFrame(lag, r))
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

// watchFrame is what --watch --json prints of one reading: the lag and
// its rates.
func watchFrame(lag *dispatcher.Lag, r *rates) any {
	return struct {
		*dispatcher.Lag
		rates
	}{lag, *r}
}

// writeLag prints the targets table, the partitions, the legacy consumers
// (when any), the fleet and the orphans. r, when not nil, adds the watch
// columns.
func writeLag(w io.Writer, lag *dispatcher.Lag, r *rates, width int) {
	writeTargets(w, lag, r, width)
	writePartitions(w, lag, r, width)
	writeFleet(w, lag, width)
	if len(lag.Orphans) > 0 {
		fmt.Fprintln(w, "\nORPHANS: jobs of targets that no live instance serves (nor --config names)")
		o := &table{head: []string{"SUBJECT", "STORED AS", "JOBS", "OLDEST"}}
		for _, or := range lag.Orphans {
			oldest := "-"
			if or.OldestAt != nil {
				oldest = age(seconds(or.OldestSeconds))
			}
			o.add(or.Subject, or.StoredSubject, n(or.Messages), oldest)
		}
		_ = o.write(w, width)
	}
}

// writeTargets prints the targets table.
func writeTargets(w io.Writer, lag *dispatcher.Lag, r *rates, width int) {
	head := []string{"TARGET", "PARTITION", "PENDING"}
	legacy := slices.ContainsFunc(lag.Targets, func(tl dispatcher.TargetLag) bool { return tl.LegacyPending > 0 })
	if legacy {
		head = append(head, "LEGACY")
	}
	head = append(head, "RETRYING", "DEAD", "FALLBACK", "OLDEST")
	paused := slices.ContainsFunc(lag.Targets, func(tl dispatcher.TargetLag) bool { return tl.Paused })
	if paused {
		head = append(head, "PAUSED")
	}
	if r != nil {
		head = append(head, "NET/S", "DRAIN")
	}
	t := &table{head: head}
	for _, tl := range lag.Targets {
		oldest := "-"
		if tl.OldestPendingAt != nil {
			oldest = age(seconds(tl.OldestPendingSeconds))
		}
		part := "-"
		if tl.Partition != nil {
			part = strconv.Itoa(*tl.Partition)
		}
		row := []string{tl.Target, part, n(tl.Pending)}
		if legacy {
			row = append(row, n(tl.LegacyPending))
		}
		row = append(row, n(tl.Retrying), n(tl.Dead), n(tl.Fallback), oldest)
		if paused {
			row = append(row, pausedCell(tl, lag.At))
		}
		if r != nil {
			rate, ok := r.Pending[tl.Target]
			switch {
			case !ok:
				row = append(row, "…", "…")
			case tl.Pending == 0:
				row = append(row, fmt.Sprintf("%+.1f", rate), "-")
			case rate > 0:
				row = append(row, fmt.Sprintf("%+.1f", rate), "growing")
			case rate == 0:
				row = append(row, "0.0", "steady")
			default:
				row = append(row, fmt.Sprintf("%+.1f", rate), drain(seconds(float64(tl.Pending)/-rate)))
			}
		}
		t.add(row...)
	}
	if len(t.rows) == 0 {
		fmt.Fprintf(w, "no targets in %s (no backlog, no dead letters; pass --config to list configured targets)\n", lag.JobsStream)
		return
	}
	_ = t.write(w, width)
	if paused {
		writePauses(w, lag, width)
	}
}

// pausedCell is a target's PAUSED: how long its pause has left, "until
// resumed", or "-".
func pausedCell(tl dispatcher.TargetLag, at time.Time) string {
	switch {
	case !tl.Paused:
		return "-"
	case tl.PausedUntil == nil:
		return "until resumed"
	}
	return age(tl.PausedUntil.Sub(at).Round(time.Second)) + " left"
}

// writePauses lists the paused targets with who paused them and why (a
// hold is not a pause: it shows under BREAKERS OPEN FOR THE FLEET).
func writePauses(w io.Writer, lag *dispatcher.Lag, width int) {
	fmt.Fprintln(w, "\nPAUSED: no call is made to these targets; their jobs are parked until the pause ends ('dispatcher resume TARGET')")
	t := &table{head: []string{"TARGET", "UNTIL", "BY", "REASON"}}
	for _, tl := range lag.Targets {
		if !tl.Paused {
			continue
		}
		until := "resumed"
		if tl.PausedUntil != nil {
			until = tl.PausedUntil.UTC().Format(time.RFC3339)
		}
		t.add(tl.Target, until, tl.PausedBy, or(tl.PausedReason, "-"))
	}
	_ = t.write(w, width)
}

// writePartitions prints each partition's consumers, and the legacy
// consumers when there are any.
func writePartitions(w io.Writer, lag *dispatcher.Lag, r *rates, width int) {
	head := []string{"CONSUMER", "PENDING", "IN FLIGHT", "REDELIVERED", "WAITING", "LAST ACTIVE"}
	if r != nil {
		head = append(head, "DELIV/S")
	}
	cells := func(c dispatcher.ConsumerLag) []string {
		active := "never"
		if c.LastActive != nil {
			active = age(lag.At.Sub(*c.LastActive)) + " ago"
		}
		row := []string{c.Consumer, n(c.Pending), strconv.Itoa(c.InFlight), strconv.Itoa(c.Redelivered), strconv.Itoa(c.WaitingPulls), active}
		if r != nil {
			if rate, ok := r.Delivered[c.Consumer]; ok {
				row = append(row, fmt.Sprintf("%.1f", rate))
			} else {
				row = append(row, "…")
			}
		}
		return row
	}
	if len(lag.Partitions) > 0 {
		fmt.Fprintf(w, "\nPARTITIONS: %d, each with a consumer of its jobs and one of its fired copies, shared by every instance\n", lag.PartitionCount)
		topo := schemas.Topology{Prefix: lag.SubjectPrefix}
		t := &table{head: append([]string{"PARTITION"}, head...)}
		for _, p := range lag.Partitions {
			k := strconv.Itoa(p.Partition)
			for i, c := range []*dispatcher.ConsumerLag{p.Jobs, p.Due} {
				if c != nil {
					t.add(append([]string{k}, cells(*c)...)...)
					continue
				}
				name := topo.PartConsumerName(p.Partition)
				if i == 1 {
					name = topo.DuePartConsumerName(p.Partition)
				}
				row := []string{k, name, "-", "-", "-", "-", "no consumer"}
				if r != nil {
					row = append(row, "-")
				}
				t.add(row...)
			}
		}
		_ = t.write(w, width)
	}
	if len(lag.LegacyConsumers) > 0 {
		fmt.Fprintln(w, "\nLEGACY CONSUMERS: per-target consumers of a release before partitions, drained then removed by the service")
		t := &table{head: append([]string{"TARGET", "STREAM"}, head...)}
		for _, l := range lag.LegacyConsumers {
			t.add(append([]string{l.Target, l.Stream}, cells(l.ConsumerLag)...)...)
		}
		_ = t.write(w, width)
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

// seconds is s seconds as a duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

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
