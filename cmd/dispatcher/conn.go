package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/dispatcher"
	"github.com/jetdispatch/dispatcher/dispatcher/config"
	"github.com/jetdispatch/dispatcher/schemas"
)

// connFlags are the connection flags every operator command shares.
type connFlags struct {
	url, creds, cfgPath, prefix string
	// access are the NATS credential and TLS flags.
	user, password, token, nkey, tlsCA, tlsCert, tlsKey string
}

func (f *connFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
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
	for _, name := range []string{"nats-url", "creds", "config", "subject-prefix", "user", "password", "token", "nkey", "tls-ca", "tls-cert", "tls-key"} {
		envFlag(fl.Lookup(name))
	}
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.MarkFlagFilename("creds", "creds")
	for _, name := range []string{"nkey", "tls-ca", "tls-cert", "tls-key"} {
		_ = cmd.MarkFlagFilename(name)
	}
}

// connSettings are the connection flags resolved against the config file
// and the defaults.
type connSettings struct {
	url, creds, prefix string
	// nats holds the credentials and TLS files (and creds) to connect with.
	nats config.NATS
	// cfg is the loaded config; nil without --config.
	cfg *config.Config
}

// resolve fills what the flags left open from the config file and defaults.
func (f *connFlags) resolve() (*connSettings, error) {
	s := &connSettings{url: f.url, creds: f.creds, prefix: f.prefix}
	if f.cfgPath != "" {
		cfg, err := config.Load(f.cfgPath)
		if err != nil {
			return nil, &exitError{code: exitUsage, err: err}
		}
		s.cfg = cfg
		if s.url == "" {
			s.url = cfg.NATS.URL
			if s.url == "" {
				s.url = "nats://" + cfg.NATS.Embedded.Listen
			}
		}
		if s.creds == "" {
			s.creds = cfg.NATS.Creds
		}
		s.nats = cfg.NATS
		if s.prefix == "" {
			s.prefix = cfg.NATS.SubjectPrefix
		}
	}
	if s.url == "" {
		s.url = nats.DefaultURL
	}
	for _, o := range []struct{ flag, cfg *string }{
		{&f.user, &s.nats.User}, {&f.password, &s.nats.Password}, {&f.token, &s.nats.Token}, {&f.nkey, &s.nats.NKey},
		{&f.tlsCA, &s.nats.TLS.CA}, {&f.tlsCert, &s.nats.TLS.Cert}, {&f.tlsKey, &s.nats.TLS.Key},
	} {
		if *o.flag != "" {
			*o.cfg = *o.flag
		}
	}
	s.nats.Creds = s.creds
	if s.prefix == "" {
		s.prefix = "dispatch"
	}
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
