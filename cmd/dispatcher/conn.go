package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
)

// connFlags are the connection flags every command shares, serve
// included. Each reads its DISPATCHER_* variable when not given (env.go).
type connFlags struct {
	url, creds, cfgPath, prefix string
	// access are the NATS credential and TLS flags.
	user, password, token, nkey, tlsCA, tlsCert, tlsKey string
}

// register adds the connection flags to cmd, each reading its DISPATCHER_*
// variable.
func (f *connFlags) register(cmd *cobra.Command) {
	fl := pflag.NewFlagSet("connection", pflag.ContinueOnError)
	fl.StringVar(&f.url, "nats-url", "", "NATS URL (env DISPATCHER_NATS_URL; default: the config's, else nats://127.0.0.1:4222)")
	fl.StringVar(&f.creds, "creds", "", "NATS credentials file (env DISPATCHER_CREDS; default: the config's)")
	fl.StringVar(&f.cfgPath, "config", "", "read the NATS settings, subject prefix and targets from this service config (env DISPATCHER_CONFIG)")
	fl.StringVar(&f.prefix, "subject-prefix", "", "subject prefix (env DISPATCHER_SUBJECT_PREFIX; default: the config's, else dispatch)")
	fl.StringVar(&f.user, "user", "", "NATS user (env DISPATCHER_USER; default: the config's)")
	fl.StringVar(&f.password, "password", "", "NATS password (env DISPATCHER_PASSWORD; default: the config's)")
	fl.StringVar(&f.token, "token", "", "NATS token (env DISPATCHER_TOKEN; default: the config's)")
	fl.StringVar(&f.nkey, "nkey", "", "NATS NKey user seed file (env DISPATCHER_NKEY; default: the config's)")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "CA file to verify the NATS server with (env DISPATCHER_TLS_CA; default: the config's)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "client certificate file for NATS (env DISPATCHER_TLS_CERT; default: the config's)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "client key file for NATS (env DISPATCHER_TLS_KEY; default: the config's)")
	fl.VisitAll(envFlag)
	cmd.Flags().AddFlagSet(fl)
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.MarkFlagFilename("creds", "creds")
	for _, name := range []string{"nkey", "tls-ca", "tls-cert", "tls-key"} {
		_ = cmd.MarkFlagFilename(name)
	}
}

// connFlagsOf reads the connection flags of cmd, each from its variable when
// the command line left it out. For shell completion, which runs no
// PersistentPreRunE and has only the command at hand.
func connFlagsOf(cmd *cobra.Command) (*connFlags, error) {
	if err := applyEnv(cmd); err != nil {
		return nil, err
	}
	f := &connFlags{}
	probe := &cobra.Command{}
	f.register(probe)
	var err error
	probe.Flags().VisitAll(func(pf *pflag.Flag) {
		if src := cmd.Flags().Lookup(pf.Name); src != nil && err == nil {
			err = pf.Value.Set(src.Value.String())
		}
	})
	return f, err
}

// override is what the flags set of the config's nats section: the
// non-empty ones replace the config's keys.
func (f *connFlags) override() config.NATSOverride {
	return config.NATSOverride{
		URL: f.url, Creds: f.creds, User: f.user, Password: f.password, Token: f.token, NKey: f.nkey,
		TLS: config.NATSTLS{CA: f.tlsCA, Cert: f.tlsCert, Key: f.tlsKey}, SubjectPrefix: f.prefix,
	}
}

// connSettings are the connection flags resolved against the config file
// and the defaults.
type connSettings struct {
	url, prefix string
	// nats holds the credentials and TLS files (and creds) to connect with.
	nats config.NATS
	// cfg is the loaded config; nil without --config.
	cfg *config.Config
}

// resolve fills what the flags left open from the config file and defaults:
// a flag (or its variable) beats the config's key, which beats the default.
func (f *connFlags) resolve() (*connSettings, error) {
	s := &connSettings{}
	if f.cfgPath != "" {
		cfg, err := config.Load(f.cfgPath)
		if err != nil {
			return nil, &exitError{code: exitUsage, err: err}
		}
		s.cfg, s.nats = cfg, cfg.NATS
		if s.nats.URL == "" {
			// The service runs its embedded server: reach it as the
			// service does, with nats.embedded.token.
			s.nats = dispatcher.EmbeddedAccess(s.nats)
			s.nats.URL = "nats://" + cfg.NATS.Embedded.Listen
		}
	}
	s.nats = s.nats.Override(f.override())
	if s.nats.URL == "" {
		s.nats.URL = nats.DefaultURL
	}
	if s.nats.SubjectPrefix == "" {
		s.nats.SubjectPrefix = config.DefaultSubjectPrefix
	}
	s.url, s.prefix = s.nats.URL, s.nats.SubjectPrefix
	return s, nil
}

// topology is the stream and subject naming of the resolved prefix.
func (s *connSettings) topology() schemas.Topology { return schemas.Topology{Prefix: s.prefix} }

// knownTargets are the config's targets; nil without --config.
func (s *connSettings) knownTargets() []string {
	if s.cfg == nil {
		return nil
	}
	return s.cfg.TargetNames()
}

// connect opens a NATS connection and a JetStream handle.
func (f *connFlags) connect() (*nats.Conn, jetstream.JetStream, *connSettings, error) {
	s, err := f.resolve()
	if err != nil {
		return nil, nil, nil, err
	}
	opts := []nats.Option{nats.Name("dispatcher cli"), nats.Timeout(5 * time.Second)}
	access, err := dispatcher.NATSAccessOptions(s.nats)
	if err != nil {
		return nil, nil, nil, &exitError{code: exitUsage, err: err}
	}
	opts = append(opts, access...)
	nc, err := nats.Connect(s.url, opts...)
	if err != nil {
		return nil, nil, nil, runtimeErr(fmt.Errorf("connect to NATS at %s: %w (is the server running? set --nats-url or DISPATCHER_NATS_URL)", dispatcher.RedactNATSURL(s.url), err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, runtimeErr(err)
	}
	return nc, js, s, nil
}
