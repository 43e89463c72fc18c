package main

import (
	"context"
	"errors"
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
	var cfgPath, logLevel, cpuProfile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the workers (an embedded NATS server when no nats.url is configured)",
		Long: `serve runs one worker per configured target. With no nats.url in the config it
starts an embedded JetStream server on nats.embedded.listen, storing under
nats.embedded.store_dir. SIGTERM or SIGINT stops fetching, lets in-flight calls
finish within shutdown_timeout and hands the rest back for redelivery.

SIGHUP, a change of the config file and POST /-/reload on http.listen reload
the config: targets are added, removed and changed without dropping in-flight
jobs; a config with errors is refused and the one in effect stays. Changes of
nats.*, streams.*, http.listen, service_name, shutdown_timeout and orphan_grace
are logged as needing a restart.`,
		Example: `  dispatcher serve --config dispatcher.yaml
  DISPATCHER_CONFIG=/etc/dispatcher.yaml dispatcher serve --log-level debug`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			if err := dispatcher.Run(ctx, cfg, dispatcher.WithLogger(log), dispatcher.WithBuildInfo(v, c),
				dispatcher.WithConfigFile(cfgPath), dispatcher.ReloadOn(hup)); err != nil {
				log.Error("stopped with an error", zap.Error(err))
				if errors.Is(err, dispatcher.ErrStartup) {
					return runtimeErr(err)
				}
				return runtimeErr(err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", os.Getenv("DISPATCHER_CONFIG"), "config file (env DISPATCHER_CONFIG)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", os.Getenv("DISPATCHER_CPUPROFILE"), "write a CPU profile to this file until exit (env DISPATCHER_CPUPROFILE)")
	_ = cmd.Flags().MarkHidden("cpuprofile")
	cmd.Flags().StringVar(&logLevel, "log-level", envOr("DISPATCHER_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env DISPATCHER_LOG_LEVEL)")
	return cmd
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
