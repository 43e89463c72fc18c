package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/worker"
)

func newServeCmd() *cobra.Command {
	var cfgPath, logLevel, cpuProfile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the workers (an embedded NATS server when no nats.url is configured)",
		Long: `serve runs one worker per configured target. With no nats.url in the config it
starts an embedded JetStream server on nats.embedded.listen, storing under
nats.embedded.store_dir. SIGTERM or SIGINT stops fetching, lets in-flight calls
finish within shutdown_timeout and hands the rest back for redelivery.`,
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
			worker.SetUserAgentVersion(v)
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
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if err := dispatcher.Run(ctx, cfg, dispatcher.WithLogger(log)); err != nil {
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
