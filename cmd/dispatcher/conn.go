package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
)

// connFlags are the connection flags every operator command shares.
type connFlags struct {
	url, creds, cfgPath, prefix string
}

func (f *connFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "nats-url", os.Getenv("DISPATCHER_NATS_URL"), "NATS URL (env DISPATCHER_NATS_URL; default: the config's, else nats://127.0.0.1:4222)")
	fl.StringVar(&f.creds, "creds", os.Getenv("DISPATCHER_CREDS"), "NATS credentials file (env DISPATCHER_CREDS)")
	fl.StringVar(&f.cfgPath, "config", os.Getenv("DISPATCHER_CONFIG"), "read nats settings and subject prefix from this service config (env DISPATCHER_CONFIG)")
	fl.StringVar(&f.prefix, "subject-prefix", os.Getenv("DISPATCHER_SUBJECT_PREFIX"), "subject prefix (env DISPATCHER_SUBJECT_PREFIX; default: the config's, else dispatch)")
}

// resolve fills what the flags left open from the config file and defaults.
func (f *connFlags) resolve() (url, creds, prefix string, err error) {
	url, creds, prefix = f.url, f.creds, f.prefix
	if f.cfgPath != "" {
		cfg, err := config.Load(f.cfgPath)
		if err != nil {
			return "", "", "", &exitError{code: exitUsage, err: err}
		}
		if url == "" {
			url = cfg.NATS.URL
			if url == "" {
				url = "nats://" + cfg.NATS.Embedded.Listen
			}
		}
		if creds == "" {
			creds = cfg.NATS.Creds
		}
		if prefix == "" {
			prefix = cfg.NATS.SubjectPrefix
		}
	}
	if url == "" {
		url = nats.DefaultURL
	}
	if prefix == "" {
		prefix = "dispatch"
	}
	return url, creds, prefix, nil
}

// connect opens a NATS connection and a JetStream handle.
func (f *connFlags) connect() (*nats.Conn, jetstream.JetStream, string, error) {
	url, creds, prefix, err := f.resolve()
	if err != nil {
		return nil, nil, "", err
	}
	opts := []nats.Option{nats.Name("dispatcher cli"), nats.Timeout(5 * time.Second)}
	if creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, "", runtimeErr(fmt.Errorf("connect to NATS at %s: %w (is the server running? set --nats-url)", url, err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, "", runtimeErr(err)
	}
	return nc, js, prefix, nil
}
