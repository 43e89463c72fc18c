// Command bench measures dispatcher against the consumer a user would write
// without it (issue 3): it starts, as separate processes on 127.0.0.1, a
// nats-server with JetStream built from the nats-server module in go.mod, an
// HTTP sink, and each system under test in turn, on a fresh server and sink
// per run, alternating the order of the systems every repeat. It prints one
// table of medians with min–max and writes the same figures as JSON.
//
//	go run ./tests/bench                 # the full run, a few minutes
//	go run ./tests/bench -quick          # a smoke run with tiny sizes
//	go run ./tests/bench -scenarios drain,rate -repeats 5 -v
//	go run ./tests/bench -scenarios scaleout -suts dispatcher   # one instance vs two
//	go run ./tests/bench -scenarios flaky-random -repeats 5     # the retry budget's tail
//	go run ./tests/bench -scenarios drain -repeats 5 -baseline-bin /tmp/dispatcher-base  # before/after a change
//
// The same binary is the sink ("bench sink") and the naive consumer
// ("bench naive"); the harness re-executes itself for both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exit statuses of the harness.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// Names of the systems under test.
const (
	sutNaive      = "naive"
	sutDispatcher = "dispatcher"
	// sutBaseline is dispatcher built from another commit (-baseline-bin):
	// the same program, config and harness path as sutDispatcher.
	sutBaseline = "baseline"
)

// Names of the scenarios, in the order they run within a repeat.
const (
	scDrain       = "drain"
	scRate        = "rate"
	scIsolation   = "isolation"
	scAlone       = "alone" // the isolation scenario's healthy jobs without the hole: its baseline
	scFlaky       = "flaky"
	scFlakyRandom = "flaky-random" // 503s at random per call, fast retries, the default retry budget
	scScaleout    = "scaleout"     // dispatcher only: one instance, then two on the same consumer
	// scTargets (targets.go): cost against the number of targets, not run
	// by default.
)

var (
	// allScenarios are the scenarios run by default (-scenarios' default).
	allScenarios = []string{scDrain, scRate, scAlone, scIsolation, scFlaky, scFlakyRandom, scScaleout}
	// knownScenarios are those -scenarios accepts, in the order they run.
	knownScenarios = append(slices.Clone(allScenarios), scTargets)
	allSUTs        = []string{sutNaive, sutDispatcher} // the default of -suts
	knownSUTs      = []string{sutNaive, sutDispatcher, sutBaseline}
)

// isDispatcher reports whether sut is a build of dispatcher: dispatcher
// itself or the baseline.
func isDispatcher(sut string) bool { return sut == sutDispatcher || sut == sutBaseline }

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sink":
			os.Exit(sinkMain(os.Args[2:]))
		case "naive":
			os.Exit(naiveMain(os.Args[2:]))
		}
	}
	os.Exit(benchMain(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the harness flags.
type options struct {
	repeats      int
	scenarios    []string
	suts         []string
	nDrain       int
	rate         int
	rateDuration time.Duration
	nIsoFast     int
	nIsoHole     int
	nFlaky       int
	flakyP       float64
	flakySeed    uint64 // flaky-random: the sink's seed in repeat 1
	isoTimeout   time.Duration
	flakyTimeout time.Duration
	nScaleout    int
	// scaleoutDelay is how long the target takes per call and
	// scaleoutConcurrency each instance's concurrency: one instance can do
	// at most concurrency/delay jobs/s.
	scaleoutDelay       time.Duration
	scaleoutConcurrency int
	// The targets scenario (targets.go).
	targetsSizes        []int // targets configured in each size step, ascending
	nTargetsJobs        int   // healthy jobs of every step
	targetsHot          int   // the hot step's targets that get the jobs; 0: no hot step
	targetsHotAmong     int   // the hot step's targets configured
	targetsIsolation    int   // the isolation steps' targets; 0: no isolation steps
	nTargetsSick        int   // jobs for each sick target
	targetsReadyTimeout time.Duration
	targetsTimeout      time.Duration // from the first publish until the last healthy receipt
	targetsIdle         time.Duration // idle between ready and the idle figures
	natsMaxConsumers    int           // nats-server's default_max_consumers; 0: the server's default (1,000 per stream)
	jsonPath            string
	dispatcher          string // a prebuilt dispatcher binary; empty: build ./cmd/dispatcher
	baseline            string // a dispatcher binary of another build, run as sutBaseline; empty: none
	dispatcherPerTarget bool   // -dispatcher-bin is a build before partitions: give it their jobs stream
	cpuProfileDir       string // where dispatcher and baseline runs write CPU profiles; empty: none
	quick               bool
	keep                bool
	verbose             bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var scenarios, suts, targetsSizes string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./tests/bench [flags]\n\n"+
			"Benchmarks dispatcher against a naive JetStream consumer (issue 3).\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&o.repeats, "repeats", 3, "repeats of every scenario and system")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "scenarios to run, comma separated")
	fs.StringVar(&suts, "suts", strings.Join(allSUTs, ","), "systems under test, comma separated")
	fs.StringVar(&o.cpuProfileDir, "cpuprofile-dir", "", "write a CPU profile of every dispatcher and baseline run here (<repeat>-<scenario>-<system>.prof; go tool pprof)")
	fs.IntVar(&o.nDrain, "n-drain", 50000, "drain: jobs published before the system starts")
	fs.IntVar(&o.rate, "rate", 2000, "rate: jobs published per second")
	fs.DurationVar(&o.rateDuration, "rate-duration", 10*time.Second, "rate: how long to publish")
	fs.IntVar(&o.nIsoFast, "n-isolation-fast", 5000, "isolation: jobs for the healthy target")
	fs.IntVar(&o.nIsoHole, "n-isolation-hole", 1000, "isolation: jobs for the black-holed target")
	fs.DurationVar(&o.isoTimeout, "isolation-timeout", 60*time.Second, "isolation: give up on the healthy target's jobs after this long")
	fs.IntVar(&o.nFlaky, "n-flaky", 20000, "flaky and flaky-random: jobs published before the system starts")
	fs.Float64Var(&o.flakyP, "flaky-p", 0.2, "flaky and flaky-random: share of calls answered 503")
	fs.Uint64Var(&o.flakySeed, "flaky-seed", 1, "flaky-random: seed of the sink's draws in repeat 1 (repeat k: seed+k-1, the same for every system)")
	fs.DurationVar(&o.flakyTimeout, "flaky-timeout", 3*time.Minute, "flaky and flaky-random: give up after this long")
	fs.IntVar(&o.nScaleout, "n-scaleout", 6000, "scaleout: jobs drained by one instance, then as many by two")
	fs.DurationVar(&o.scaleoutDelay, "scaleout-delay", 50*time.Millisecond, "scaleout: the target's time per call")
	fs.IntVar(&o.scaleoutConcurrency, "scaleout-concurrency", 16, "scaleout: concurrency of each instance")
	fs.StringVar(&targetsSizes, "targets-sizes", "1,100,1000,10000", "targets: targets configured in each size step, comma separated (include 1: the others are divided by its figures)")
	fs.IntVar(&o.nTargetsJobs, "n-targets-jobs", 20000, "targets: jobs published in every step once the system is ready, spread evenly")
	fs.IntVar(&o.targetsHot, "targets-hot", 10, "targets: the hot step's targets that get the jobs (0: no hot step)")
	fs.IntVar(&o.targetsHotAmong, "targets-hot-among", 10000, "targets: the hot step's targets configured")
	fs.IntVar(&o.targetsIsolation, "targets-isolation", 1000, "targets: the isolation steps' targets, two of them sick (0: no isolation steps)")
	fs.IntVar(&o.nTargetsSick, "n-targets-sick", 1000, "targets: jobs for each of the two sick targets of the isolation step")
	fs.DurationVar(&o.targetsReadyTimeout, "targets-ready-timeout", 90*time.Second, "targets: give up on a step whose system is not ready within this long of its start")
	fs.DurationVar(&o.targetsTimeout, "targets-timeout", time.Minute, "targets: give up on a step's jobs after this long from the first publish")
	fs.DurationVar(&o.targetsIdle, "targets-idle", time.Second, "targets: how long the ready system idles before the idle figures are read")
	fs.IntVar(&o.natsMaxConsumers, "nats-max-consumers", 0, "nats-server's jetstream default_max_consumers, the consumers a stream may have (0: the server's default, 1,000; -1: unlimited)")
	fs.StringVar(&o.jsonPath, "json", "bench-results.json", "write the results as JSON to this file (empty: none)")
	fs.StringVar(&o.dispatcher, "dispatcher-bin", "", "use this dispatcher binary instead of building ./cmd/dispatcher (e.g. to compare two builds)")
	fs.BoolVar(&o.dispatcherPerTarget, "dispatcher-per-target", false, "-dispatcher-bin is a build before partitions (per-target consumers): create the jobs stream as it did, as for -baseline-bin (to compare two such builds)")
	fs.StringVar(&o.baseline, "baseline-bin", "", "also run this dispatcher binary (built from another commit) as system \"baseline\", wherever dispatcher runs, interleaved with the others; the table adds dispatcher/baseline")
	fs.BoolVar(&o.quick, "quick", false, "a smoke run: tiny sizes, one repeat (flags set explicitly still win)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, configs, stores)")
	fs.BoolVar(&o.verbose, "v", false, "print each run's figures as it goes")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]func(){
			"repeats":           func() { o.repeats = 1 },
			"n-drain":           func() { o.nDrain = 2000 },
			"rate":              func() { o.rate = 500 },
			"rate-duration":     func() { o.rateDuration = 2 * time.Second },
			"n-isolation-fast":  func() { o.nIsoFast = 500 },
			"n-isolation-hole":  func() { o.nIsoHole = 100 },
			"isolation-timeout": func() { o.isoTimeout = 8 * time.Second },
			"n-flaky":           func() { o.nFlaky = 500 },
			"flaky-timeout":     func() { o.flakyTimeout = 40 * time.Second },
			"n-scaleout":        func() { o.nScaleout = 1000 },
			"targets-sizes":     func() { targetsSizes = "1,10,100" },
			"n-targets-jobs":    func() { o.nTargetsJobs = 2000 },
			"targets-hot":       func() { o.targetsHot = 5 },
			"targets-hot-among": func() { o.targetsHotAmong = 100 },
			"targets-isolation": func() { o.targetsIsolation = 100 },
			"n-targets-sick":    func() { o.nTargetsSick = 200 },
			"targets-timeout":   func() { o.targetsTimeout = 40 * time.Second },
		}
		for name, apply := range quick {
			if !set[name] {
				apply()
			}
		}
	}
	var err error
	if o.scenarios, err = parseList("-scenarios", scenarios, knownScenarios); err != nil {
		return o, err
	}
	if o.targetsSizes, err = parseSizes(targetsSizes); err != nil {
		return o, err
	}
	if o.baseline != "" {
		suts += "," + sutBaseline // wherever dispatcher runs
	}
	if o.suts, err = parseList("-suts", suts, knownSUTs); err != nil {
		return o, err
	}
	if slices.Contains(o.suts, sutBaseline) && o.baseline == "" {
		return o, errors.New("-suts: baseline needs -baseline-bin")
	}
	switch {
	case o.repeats < 1:
		return o, errors.New("-repeats: must be at least 1")
	case o.nDrain < 1, o.nIsoFast < 1, o.nIsoHole < 0, o.nFlaky < 1, o.nScaleout < 1:
		return o, errors.New("-n-*: job counts must be positive")
	case o.rate < 1, o.rateDuration <= 0:
		return o, errors.New("-rate and -rate-duration: must be positive")
	case o.flakyP < 0 || o.flakyP >= 1:
		return o, errors.New("-flaky-p: must be in [0, 1)")
	case o.isoTimeout <= 0 || o.flakyTimeout <= 0:
		return o, errors.New("-isolation-timeout and -flaky-timeout: must be positive")
	case o.scaleoutDelay < time.Millisecond || o.scaleoutConcurrency < 1:
		return o, errors.New("-scaleout-delay: must be at least 1ms; -scaleout-concurrency: at least 1")
	case o.nTargetsJobs < 1 || o.nTargetsSick < 0:
		return o, errors.New("-n-targets-jobs: must be positive; -n-targets-sick: not negative")
	case o.targetsHot < 0 || o.targetsHot > 0 && o.targetsHotAmong < o.targetsHot:
		return o, errors.New("-targets-hot: must be at most -targets-hot-among (0: no hot step)")
	case o.targetsIsolation != 0 && o.targetsIsolation < 3:
		return o, errors.New("-targets-isolation: at least 3 targets (two of them sick; 0: no isolation steps)")
	case o.targetsReadyTimeout <= 0 || o.targetsTimeout <= 0 || o.targetsIdle < 0:
		return o, errors.New("-targets-ready-timeout and -targets-timeout: must be positive; -targets-idle: not negative")
	}
	return o, nil
}

// parseSizes parses -targets-sizes: positive counts, sorted ascending,
// without duplicates.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-targets-sizes: %q is not a positive count", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// parseList splits a comma list, keeps the canonical order of known and
// rejects unknown names.
func parseList(flagName, s string, known []string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("%s: unknown %q (want some of %s)", flagName, name, strings.Join(known, ","))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty", flagName)
	}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(known, a) - slices.Index(known, b) })
	return out, nil
}

func benchMain(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return exitUsage
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	procs := newProcSet()
	defer procs.killAll()

	// The first signal stops the runs (cleanup and a partial report follow);
	// a second one kills every child at once and exits.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		fmt.Fprintln(stderr, "bench: interrupted; stopping (again to kill now)")
		cancel()
		if _, ok := <-sigs; ok {
			procs.killAll()
			os.Exit(exitInterrupted)
		}
	}()

	h, err := newHarness(ctx, o, procs, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailure
	}
	defer h.close()

	rep := h.runAll(ctx)
	rep.print(stdout)
	if o.jsonPath != "" {
		if err := rep.writeJSON(o.jsonPath); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return exitFailure
		}
		fmt.Fprintf(stderr, "bench: results written to %s\n", o.jsonPath)
	}
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case rep.failed():
		return exitFailure
	}
	return exitOK
}
