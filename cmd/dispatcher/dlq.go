package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/deadletter"
	"github.com/jetdispatch/dispatcher/schemas"
)

func newDLQCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, inspect, replay and purge dead letters",
		Long: `Dead letters are the records of jobs the service gave up on, one per job, on
<prefix>.dlq.<target> in the dead-letter stream (e.g. DISPATCH_DLQ). A record is
addressed by its stream sequence (SEQ). Reading never consumes or changes the
stream; replay re-publishes a record's job and deletes the record after
JetStream acknowledged it; purge deletes records.

Filters (ls, replay, purge): --target, --reason, --class, --status, --since,
--until, --job-id; each may be repeated or comma-separated, and a record must
pass every filter given.`,
		Example: `  dispatcher dlq ls --target payments --since 1h
  dispatcher dlq show 1042
  dispatcher dlq replay --target payments --reason exhausted --dry-run
  dispatcher dlq purge --target payments --until 2026-11-01 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDLQLsCmd(), newDLQShowCmd(), newDLQReplayCmd(), newDLQPurgeCmd())
	return cmd
}

// dlqFilterFlags are the filters of ls, replay and purge.
type dlqFilterFlags struct {
	targets, reasons, classes, statuses, jobIDs []string
	since, until                                string
	limit                                       int
}

func (f *dlqFilterFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.targets, "target", "t", nil, "only these targets")
	fl.StringSliceVar(&f.reasons, "reason", nil, "only these reasons: "+strings.Join(reasons, ", "))
	fl.StringSliceVar(&f.classes, "class", nil, "only these error classes, e.g. http_5xx, timeout_total")
	fl.StringSliceVar(&f.statuses, "status", nil, "only these last HTTP statuses: 503, 5xx, or none")
	fl.StringVar(&f.since, "since", "", "only records stored since: a duration ago (90m, 24h) or a time (2026-11-26, RFC 3339)")
	fl.StringVar(&f.until, "until", "", "only records stored until: a duration ago or a time")
	fl.StringSliceVar(&f.jobIDs, "job-id", nil, "only these job ids")
	fl.IntVar(&f.limit, "limit", 0, "at most this many records, the oldest first (0: no limit)")
	completeTargets(cmd, "target")
	completeFixed(cmd, "reason", reasons)
	completeFixed(cmd, "class", errorClasses)
	completeFixed(cmd, "status", statusValues)
}

// filterFlagNames are the filters of ls, replay and purge.
var filterFlagNames = []string{"target", "reason", "class", "status", "since", "until", "job-id"}

// values returns what the filter flag name holds.
func (f *dlqFilterFlags) values(name string) []string {
	switch name {
	case "target":
		return f.targets
	case "reason":
		return f.reasons
	case "class":
		return f.classes
	case "status":
		return f.statuses
	case "since":
		return []string{f.since}
	case "until":
		return []string{f.until}
	case "job-id":
		return f.jobIDs
	}
	panic("dlq: no filter flag --" + name)
}

// filter builds the filter, reporting bad values as usage errors.
func (f *dlqFilterFlags) filter(now time.Time) (deadletter.Filter, error) {
	flt := deadletter.Filter{Targets: f.targets, Reasons: f.reasons, Classes: f.classes, JobIDs: f.jobIDs, Limit: f.limit}
	for _, r := range f.reasons {
		if !slices.Contains(reasons, r) {
			return flt, usageErr("--reason %q: want one of %s", r, strings.Join(reasons, ", "))
		}
	}
	for _, c := range f.classes {
		if !slices.Contains(errorClasses, c) {
			return flt, usageErr("--class %q: want one of %s", c, strings.Join(errorClasses, ", "))
		}
	}
	for _, s := range f.statuses {
		r, err := deadletter.ParseStatus(s)
		if err != nil {
			return flt, usageErr("--status: %v", err)
		}
		flt.Statuses = append(flt.Statuses, r)
	}
	var err error
	if flt.Since, err = parseWhen("since", f.since, now); err != nil {
		return flt, err
	}
	if flt.Until, err = parseWhen("until", f.until, now); err != nil {
		return flt, err
	}
	if err := flt.Validate(); err != nil {
		return flt, usageErr("%v", err)
	}
	return flt, nil
}

// parseWhen reads a --since/--until value (deadletter.ParseWhen), a bad
// one as a usage error.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	t, err := deadletter.ParseWhen(v, now)
	if err != nil {
		return t, usageErr("--%s %v", flag, err)
	}
	return t, nil
}

// openStore connects and returns the dead-letter store of the prefix.
func openStore(conn *connFlags) (*nats.Conn, *deadletter.Store, error) {
	nc, _, store, _, err := openStoreJS(conn)
	return nc, store, err
}

// openStoreJS is openStore, with the JetStream handle and the topology.
func openStoreJS(conn *connFlags) (*nats.Conn, jetstream.JetStream, *deadletter.Store, schemas.Topology, error) {
	nc, js, s, err := conn.connect()
	if err != nil {
		return nil, nil, nil, schemas.Topology{}, err
	}
	return nc, js, deadletter.NewStore(js, s.prefix, s.topology().DLQStream()), s.topology(), nil
}

// selected is a selection of dead letters to act on (replay, purge).
type selected struct {
	// ctx is cancelled by SIGINT and SIGTERM.
	ctx   context.Context
	store *deadletter.Store
	sel   *deadletter.Selection
	js    jetstream.JetStream
	topo  schemas.Topology
	// done closes the connection and releases the signals.
	done func()
}

// openSelection connects, opens the dead-letter store and selects what flt
// chooses, under a context that SIGINT and SIGTERM cancel.
func openSelection(cmd *cobra.Command, conn *connFlags, flt deadletter.Filter) (*selected, error) {
	nc, js, store, topo, err := openStoreJS(conn)
	if err != nil {
		return nil, err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	done := func() { stop(); nc.Close() }
	sel, err := store.Select(ctx, flt)
	if err != nil {
		done()
		return nil, storeErr(err)
	}
	return &selected{ctx: ctx, store: store, sel: sel, js: js, topo: topo, done: done}, nil
}

// storeErr gives a Store error its exit status and a hint.
func storeErr(err error) error {
	switch {
	case errors.Is(err, deadletter.ErrInvalidFilter):
		return usageErr("%v", err)
	case errors.Is(err, deadletter.ErrNoStream):
		return runtimeErr(fmt.Errorf("%w; has 'dispatcher serve' run against this NATS server?", err))
	}
	return runtimeErr(err)
}

// selectorFlags are how replay and purge choose records: the filters, or
// --seq, or --all, given on the command line.
type selectorFlags struct {
	dlqFilterFlags
	seqs []uint
	all  bool
	// narrowedBy lists the filters' variables that narrowed the selection
	// ("DISPATCHER_TARGET=payments"), once filter has run.
	narrowedBy []string
}

func (f *selectorFlags) register(cmd *cobra.Command) {
	f.dlqFilterFlags.register(cmd)
	cmd.Flags().UintSliceVar(&f.seqs, "seq", nil, "only the records with these sequences (repeatable)")
	cmd.Flags().BoolVar(&f.all, "all", false, "every record (instead of filters or --seq)")
}

// filter builds the selection filter; with no selector on the command line
// it is a usage error, so that a bare replay or purge never touches every
// record. A filter's DISPATCHER_* variable narrows a selection made on the
// command line but never makes one: an exported DISPATCHER_TARGET does not
// turn a bare purge into "every dead letter of that target", nor does it
// stand beside --all. A selector given an empty value (--target "$UNSET")
// is refused rather than read as no filter.
func (f *selectorFlags) filter(cmd *cobra.Command, now time.Time) (deadletter.Filter, error) {
	var given, env, instead []string
	for _, name := range filterFlagNames {
		fl := cmd.Flags().Lookup(name)
		if fl.Changed {
			if vs := f.values(name); len(vs) == 0 || slices.Contains(vs, "") {
				return deadletter.Filter{}, usageErr("--%s with an empty value: give a value, or --all for every record", name)
			}
			given = append(given, "--"+name)
			continue
		}
		if v, val, ok := fromEnv(fl); ok {
			env = append(env, v+"="+escape(val))
			instead = append(instead, "--"+name+" "+escape(val))
		}
	}
	if len(f.seqs) > 0 {
		given = append(given, "--seq")
	}
	f.narrowedBy = env
	switch {
	case f.all && len(given) > 0:
		return deadletter.Filter{}, usageErr("--all selects every record; drop it to use filters or --seq, or drop those")
	case f.all && len(env) > 0:
		return deadletter.Filter{}, usageErr("--all selects every record, but the environment narrows it (%s): unset that to act on every record, or pass %s instead of --all",
			strings.Join(env, ", "), strings.Join(instead, " "))
	case !f.all && len(given) == 0 && len(env) > 0:
		return deadletter.Filter{}, usageErr("%s needs a selector on the command line: the environment (%s) only narrows one; pass %s, or other filters, --seq N or --all",
			cmd.CommandPath(), strings.Join(env, ", "), strings.Join(instead, " "))
	case !f.all && len(given) == 0:
		return deadletter.Filter{}, usageErr("%s needs a selector: filters (--target, --reason, --class, --status, --since, --until, --job-id), --seq N, or --all", cmd.CommandPath())
	}
	flt, err := f.dlqFilterFlags.filter(now)
	for _, s := range f.seqs {
		flt.Seqs = append(flt.Seqs, uint64(s))
	}
	if err == nil {
		if verr := flt.Validate(); verr != nil {
			err = usageErr("%v", verr)
		}
	}
	return flt, err
}

// noteNarrowed says on w which variables narrowed the selection, so that a
// filter the command line does not show is not a surprise.
func (f *selectorFlags) noteNarrowed(w io.Writer) {
	for _, e := range f.narrowedBy {
		fmt.Fprintf(w, "selection narrowed by %s from the environment\n", e)
	}
}
