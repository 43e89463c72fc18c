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
	"github.com/jetdispatch/dispatcher/dispatcher/verdict"
	"github.com/jetdispatch/dispatcher/schemas"
)

type lagFlags struct {
	conn       connFlags
	targets    []string
	asJSON     bool
	watch      bool
	interval   time.Duration
	maxPending int64
	failOn     []string
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

  HEALTH       the target's verdict, as the live instances judge it over
               their health.window (the worst of theirs): STOPPED (no live
               instance serves it, jobs stored), PAUSED, HELD (every
               breaker open, when_open: hold), OPEN (every breaker open),
               STALLED (a backlog and no outcome for the window), GROWING
               (the backlog rises while work is done), OK (draining or
               idle), UNKNOWN (no verdict: nothing stored and no instance,
               or the instances publish none)
  PARTITION    the target's partition (streams.partitions)
  PENDING      jobs of the target stored in the streams: waiting for
               delivery, or delivered and not acked yet (in flight)
  IN FLIGHT    HTTP calls to the target in flight (live instances)
  BUFFERED     deliveries the instances hold that are not in a call:
               waiting for a slot, a rate-limit token, a probe, a hold
  LEGACY       shown while some are: the part of PENDING stored before
               partitions, drained through the target's old consumer
  RETRYING     scheduled copies waiting to fire: retries, postponements,
               jobs parked (a busy target, a hold, a pause)
  DEAD         dead-letter records of the target
  FALLBACK     fallback records of the target
  OLDEST       age of the oldest job counted in PENDING
  ETA          time to work off PENDING at the outcome rate measured over
               the window (nothing published meanwhile); never: no outcome
  CAUSE        why, in words

PARTITIONS lists each partition's two consumers (jobs, and fired copies):
  PENDING      messages never delivered
  UNACKED      delivered and awaiting their ack: pulled ahead by the
               instances (calls in flight and buffered deliveries)
  REDELIVERED  in flight and delivered more than once
  WAITING      pull requests of instances waiting for messages
  LAST ACTIVE  last delivery or ack
LEGACY CONSUMERS, while an upgrade drains them, are the per-target consumers
of a release before partitions.

PAUSED lists the targets paused with 'dispatcher pause' (whether or not an
instance serves them): UNTIL (or "resumed"), LEFT, BY and REASON. A hold is
not a pause: it is HELD, under BREAKERS OPEN FOR THE FLEET.

ORPHANS are jobs of targets that no live instance serves and --config does
not name, by the subject they were published on, with the subject stored.
With --config, the config's targets are listed even without a backlog, and
are never orphans; without it, the targets of the live instances are.

--watch redraws every --interval, keeping its readings over the health
window between redraws, and adds, per target, NET/S (the change of PENDING
per second over that window, negative while it drains) and DRAIN (time to
drain at that pace), and per consumer DELIV/S (deliveries per second over
the last interval). --max-pending N exits with status 3 when any target's
PENDING is above N, --fail-on STALLED,STOPPED when any target's HEALTH is
one of those, for cron and CI.`,
		Example: `  dispatcher lag
  dispatcher lag --config /etc/dispatcher.yaml --target payments
  dispatcher lag --watch --interval 1s
  dispatcher lag --json | jq '.targets[] | select(.pending > 0)'
  dispatcher lag --json | jq '.partitions[] | {partition, in_flight: .jobs.in_flight}'
  dispatcher lag --json | jq '.targets[] | {target, health: .health.state, cause: .health.cause}'
  dispatcher lag --max-pending 10000 || alert "dispatcher backlog"
  dispatcher lag --fail-on STALLED,STOPPED || alert "dispatcher target stuck"`,
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
	fl.StringSliceVar(&f.failOn, "fail-on", nil, "exit with status 3 when any target's HEALTH is one of these: "+strings.Join(verdict.Names(), ", "))
	envFlags(cmd, "watch", "json")
	completeTargets(cmd, "target")
	completeFixed(cmd, "fail-on", verdict.Names())
	return cmd
}

func runLag(cmd *cobra.Command, f *lagFlags) error {
	switch {
	case f.watch && f.maxPending >= 0:
		return usageErr("--max-pending is a one-shot check (for cron and CI); drop --watch")
	case f.watch && len(f.failOn) > 0:
		return usageErr("--fail-on is a one-shot check (for cron and CI); drop --watch")
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
	failOn, err := parseStates(f.failOn)
	if err != nil {
		return err
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
	return checks(checkPending(lag, f.maxPending), checkHealth(lag, failOn))
}

// parseStates reads the states of --fail-on (a usage error for a name
// that is none).
func parseStates(names []string) (map[verdict.State]bool, error) {
	out := map[verdict.State]bool{}
	for _, n := range names {
		s, err := verdict.ParseState(strings.TrimSpace(n))
		if err != nil {
			return nil, usageErr("--fail-on: %v", err)
		}
		out[s] = true
	}
	return out, nil
}

// checkHealth is the --fail-on check.
func checkHealth(lag *dispatcher.Lag, states map[verdict.State]bool) error {
	if len(states) == 0 {
		return nil
	}
	var bad []string
	for _, t := range lag.Targets {
		if t.Health != nil && states[t.Health.State] {
			bad = append(bad, fmt.Sprintf("%s is %s (%s)", t.Target, t.Health.State, t.Health.Cause))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &exitError{code: exitCheck, err: fmt.Errorf("--fail-on: %s", strings.Join(bad, "; "))}
}

// checks joins the failed checks into one exit error (status 3).
func checks(errs ...error) error {
	var msgs []string
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &exitError{code: exitCheck, err: errors.New(strings.Join(msgs, "; "))}
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
	lag.SetFleet(fl)
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

// rates are what a watch measures: the change of each target's PENDING
// over the readings it keeps (the health window), and each consumer's
// deliveries since the last reading, per second.
type rates struct {
	// Pending is by target: negative while its backlog drains.
	Pending map[string]float64 `json:"pending_change_per_second"`
	// Delivered is by consumer name (partitions' and legacy ones).
	Delivered map[string]float64 `json:"delivered_per_second"`
}

// history is the readings a watch keeps between redraws: those of the
// health window (the instances' health.window, else the default), and the
// last one older than it.
type history struct {
	lags []*dispatcher.Lag
}

// add keeps lag and drops the readings older than the window's base.
func (h *history) add(lag *dispatcher.Lag) {
	h.lags = append(h.lags, lag)
	window := verdict.DefaultWindow
	for _, t := range lag.Targets {
		if t.Health != nil && t.Health.WindowSeconds > 0 {
			window = seconds(t.Health.WindowSeconds)
			break
		}
	}
	from := lag.At.Add(-window)
	base := 0
	for i, l := range h.lags {
		if l.At.After(from) {
			break
		}
		base = i
	}
	h.lags = h.lags[base:]
}

// measure returns the rates over the readings kept; empty maps with one.
func measure(h *history) *rates {
	r := &rates{Pending: map[string]float64{}, Delivered: map[string]float64{}}
	if len(h.lags) < 2 {
		return r
	}
	prev, lag := h.lags[len(h.lags)-2], h.lags[len(h.lags)-1]
	dt := lag.At.Sub(prev.At).Seconds()
	if dt <= 0 {
		return r
	}
	samples := map[string][]verdict.Sample{}
	for _, l := range h.lags {
		for _, t := range l.Targets {
			samples[t.Target] = append(samples[t.Target], verdict.Sample{At: l.At, Backlog: t.Pending})
		}
	}
	for _, t := range lag.Targets {
		if s := samples[t.Target]; len(s) >= 2 {
			r.Pending[t.Target] = verdict.Trend(s)
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
	var kept history
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
		kept.add(lag)
		r := measure(&kept)
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
	head := []string{"TARGET", "HEALTH", "PARTITION", "PENDING", "IN FLIGHT", "BUFFERED"}
	legacy := slices.ContainsFunc(lag.Targets, func(tl dispatcher.TargetLag) bool { return tl.LegacyPending > 0 })
	if legacy {
		head = append(head, "LEGACY")
	}
	head = append(head, "RETRYING", "DEAD", "FALLBACK", "OLDEST", "ETA")
	if r != nil {
		head = append(head, "NET/S", "DRAIN")
	}
	head = append(head, "CAUSE")
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
		health, eta, cause := "-", "-", ""
		if h := tl.Health; h != nil {
			health, cause = h.State.String(), h.Cause
			switch {
			case h.ETASeconds == nil && h.State != verdict.Unknown && h.State != verdict.Stopped:
				eta = verdict.FormatETA(verdict.NoETA)
			case h.ETASeconds != nil:
				eta = verdict.FormatETA(seconds(*h.ETASeconds))
			}
		}
		row := []string{tl.Target, health, part, n(tl.Pending), strconv.Itoa(tl.InFlight), strconv.Itoa(tl.Buffered)}
		if legacy {
			row = append(row, n(tl.LegacyPending))
		}
		row = append(row, n(tl.Retrying), n(tl.Dead), n(tl.Fallback), oldest, eta)
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
		t.add(append(row, cause)...)
	}
	if len(t.rows) == 0 {
		fmt.Fprintf(w, "no targets in %s (no backlog, no dead letters; pass --config to list configured targets)\n", lag.JobsStream)
		return
	}
	_ = t.write(w, width)
	writePauses(w, lag, width)
}

// writePauses lists the paused targets (as the pauses bucket holds them,
// whether or not an instance serves them) with how long each pause has
// left, who paused it and why. A hold is not a pause: it shows as HELD,
// and under BREAKERS OPEN FOR THE FLEET.
func writePauses(w io.Writer, lag *dispatcher.Lag, width int) {
	if !slices.ContainsFunc(lag.Targets, func(tl dispatcher.TargetLag) bool { return tl.Paused }) {
		return
	}
	fmt.Fprintln(w, "\nPAUSED: no call is made to these targets; their jobs are parked until the pause ends ('dispatcher resume TARGET')")
	t := &table{head: []string{"TARGET", "UNTIL", "LEFT", "BY", "REASON"}}
	for _, tl := range lag.Targets {
		if !tl.Paused {
			continue
		}
		until, left := "resumed", "-"
		if tl.PausedUntil != nil {
			until, left = tl.PausedUntil.UTC().Format(time.RFC3339), age(tl.PausedUntil.Sub(lag.At).Round(time.Second))
		}
		t.add(tl.Target, until, left, tl.PausedBy, or(tl.PausedReason, "-"))
	}
	_ = t.write(w, width)
}

// writePartitions prints each partition's consumers, and the legacy
// consumers when there are any.
func writePartitions(w io.Writer, lag *dispatcher.Lag, r *rates, width int) {
	head := []string{"CONSUMER", "PENDING", "UNACKED", "REDELIVERED", "WAITING", "LAST ACTIVE"}
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
