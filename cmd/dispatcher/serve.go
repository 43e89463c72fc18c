package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
)

func newServeCmd() *cobra.Command {
	var conn connFlags
	var logLevel, cpuProfile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the workers (an embedded NATS server when no nats.url is configured)",
		Long: `serve runs one worker per configured target. With no nats.url in the config (and
no --nats-url) it starts an embedded JetStream server on nats.embedded.listen,
storing under nats.embedded.store_dir. SIGTERM or SIGINT stops fetching, lets
in-flight calls finish within shutdown_timeout and hands the rest back for
redelivery.

Connection flags: --nats-url, --creds, --user, --password, --token, --nkey,
--tls-ca, --tls-cert, --tls-key and --subject-prefix replace the config file's
nats.* key of the same meaning, at start and after every reload. Every flag of
serve reads its DISPATCHER_* variable when it is not given (--nats-url reads
DISPATCHER_NATS_URL, --log-level DISPATCHER_LOG_LEVEL, ...). Precedence: the
flag, then its variable, then the config file, then the default. A value that
breaks a rule of the nats section (a user without a password, say) is a config
error: exit status 2.

SIGHUP, a change of the config file and POST /-/reload on http.listen reload
the config: targets are added, removed and changed without dropping in-flight
jobs; a config with errors is refused and the one in effect stays; a new
http.token applies at once. Changes of nats.*, streams.*, http.listen,
service_name, shutdown_timeout and orphan_grace are logged as needing a restart.

With http.token set, every path of http.listen but /healthz and /readyz needs
"Authorization: Bearer <token>"; beyond loopback it is required, and so is
nats.embedded.token for an embedded server listening beyond loopback.`,
		Example: `  dispatcher serve --config dispatcher.yaml
  DISPATCHER_CONFIG=/etc/dispatcher.yaml dispatcher serve --log-level debug
  DISPATCHER_NATS_URL=nats://nats:4222 dispatcher serve --config dispatcher.yaml --subject-prefix staging`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(&conn, logLevel, cpuProfile) },
	}
	conn.register(cmd)
	fl := cmd.Flags()
	fl.Lookup("config").Usage = "the service's config file, required (env DISPATCHER_CONFIG)"
	fl.Lookup("nats-url").Usage = "NATS URL, replacing nats.url: no embedded server (env DISPATCHER_NATS_URL; default: the config's)"
	fl.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file until exit")
	_ = fl.MarkHidden("cpuprofile")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	envFlags(cmd)
	return cmd
}

func runServe(conn *connFlags, logLevel, cpuProfile string) error {
	cfgPath := conn.cfgPath
	if cfgPath == "" {
		return usageErr("serve needs a config file: --config FILE (or DISPATCHER_CONFIG)")
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	log, err := newLogger(logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	v, c := buildInfo()
	log.Info("starting", zap.String("service_name", cfg.ServiceName), zap.String("version", v), zap.String("commit", c), zap.String("config", cfgPath))

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return usageErr("--cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return runtimeErr(err)
		}
		defer pprof.StopCPUProfile()
	}
	tuneGC()
	shutdownTracing, err := dispatcher.SetupTracing(context.Background(), cfg.ServiceName, v)
	if err != nil {
		return usageErr("%v", err)
	}
	defer func() { // flush the spans still buffered, bounded
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			log.Warn("tracing shutdown", zap.Error(err))
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	err = dispatcher.Run(ctx, cfg, dispatcher.WithLogger(log), dispatcher.WithBuildInfo(v, c), dispatcher.WithNATSOverride(conn.override()),
		dispatcher.WithConfigFile(cfgPath), dispatcher.ReloadOn(hup))
	if err == nil {
		return nil
	}
	// Run returns an error only when the start failed (dispatcher.ErrStartup).
	log.Error("startup failed", zap.Error(err))
	if errors.Is(err, config.ErrInvalidConfig) {
		// A connection flag or DISPATCHER_* variable broke a rule of the
		// nats section.
		return &exitError{code: exitUsage, err: fmt.Errorf("connection flags and DISPATCHER_* variables over %s: %w", cfgPath, err)}
	}
	return runtimeErr(err)
}

// tuneGC trades memory the service has to spare for CPU: unless the operator
// set GOGC or GOMEMLIMIT, the collector runs at GOGC=400 (about a sixth less
// CPU per job in the drain benchmark, peak RSS 24 → 35 MiB) under a soft
// memory limit of 256 MiB, past which it collects as often as it must.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(256 << 20)
	}
}
