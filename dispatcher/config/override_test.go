package config

import (
	"errors"
	"testing"
)

func TestOverrideNATS(t *testing.T) {
	file := withTop(`nats: {url: "nats://file:4222", user: fu, password: fp, creds: /file.creds, subject_prefix: fromfile}`)
	tests := []struct {
		name    string
		over    NATSOverride
		want    func(n NATS) bool
		wantErr string // a problem line; "" for none
	}{
		{name: "empty keeps the file's", over: NATSOverride{},
			want: func(n NATS) bool {
				return n.URL == "nats://file:4222" && n.User == "fu" && n.Password == "fp" && n.Creds == "/file.creds" && n.SubjectPrefix == "fromfile"
			}},
		{name: "each field on its own", over: NATSOverride{URL: "nats://flag:4222", User: "ou", SubjectPrefix: "flagged", TLS: NATSTLS{CA: "ca.pem"}},
			want: func(n NATS) bool {
				return n.URL == "nats://flag:4222" && n.User == "ou" && n.Password == "fp" && n.Creds == "/file.creds" &&
					n.SubjectPrefix == "flagged" && n.TLS == NATSTLS{CA: "ca.pem"}
			}},
		{name: "bad prefix", over: NATSOverride{SubjectPrefix: "a.*"},
			wantErr: `nats.subject_prefix: must be dot-separated tokens of letters, digits, _ and -, got "a.*"`},
		{name: "bad url", over: NATSOverride{URL: "http://x:4222"},
			wantErr: "nats.url: must be a nats://, tls://, ws:// or wss:// URL with a host (or a comma-separated list of them)"},
		{name: "cert without key", over: NATSOverride{TLS: NATSTLS{Cert: "c.pem"}}, wantErr: "nats.tls.key: is required with nats.tls.cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, file, nil)
			before := cfg.NATS
			err := cfg.OverrideNATS(tt.over)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !tt.want(cfg.NATS) {
					t.Errorf("nats %v", cfg.NATS)
				}
				return
			}
			var cerr *Error
			if !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &cerr) || len(cerr.Errors) != 1 || cerr.Errors[0].Error() != tt.wantErr {
				t.Fatalf("error %v, want one problem %q", err, tt.wantErr)
			}
			if cfg.NATS != before {
				t.Errorf("nats changed by a refused override: %v", cfg.NATS)
			}
		})
	}

	// A user given without a password breaks the pairing rule when the
	// file has neither.
	cfg := mustParse(t, validTarget, nil)
	if err := cfg.OverrideNATS(NATSOverride{User: "u"}); err == nil || err.Error() != "nats.password: is required with nats.user" {
		t.Errorf("user alone: %v", err)
	}
}
