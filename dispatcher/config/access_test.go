package config

import (
	"strings"
	"testing"
)

// goodSecret is a valid signing secret (16 bytes).
const goodSecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZg=="

func TestAccessKeysRejected(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"allow_private not bool", withTarget("allow_private: maybe"), `targets.a.allow_private: must be true or false, got "maybe"`},
		{"allow_private in defaults", "defaults: {allow_private: true}\n" + validTarget, "defaults.allow_private: unknown key"},
		{"signing without secret", withTarget("signing: {}"), "targets.a.signing.secret: is required"},
		{"signing unknown key", withTarget("signing: {secret: \"" + goodSecret + "\", algo: x}"), "targets.a.signing.algo: unknown key"},
		{"secret not base64", withTarget("signing: {secret: \"whsec_not*base64\"}"), "targets.a.signing.secret: must be a Standard Webhooks secret (whsec_ then base64 of at least 16 bytes): is not base64 after its whsec_ prefix"},
		{"secret too short", withTarget("signing: {secret: \"whsec_c2hvcnQ=\"}"), "targets.a.signing.secret: must be a Standard Webhooks secret (whsec_ then base64 of at least 16 bytes): is 5 bytes, want at least 16"},
		{"second secret of a list", withTarget("signing: {secret: [\"" + goodSecret + "\", \"whsec_c2hvcnQ=\"]}"), "targets.a.signing.secret[1]: must be a Standard Webhooks secret (whsec_ then base64 of at least 16 bytes): is 5 bytes, want at least 16"},
		{"empty secret list", withTarget("signing: {secret: []}"), "targets.a.signing.secret: at least one secret is required"},
		{"secret mapping", withTarget("signing: {secret: {a: b}}"), "targets.a.signing.secret: must be a string or a list of strings, got a mapping"},
		{"nats user without password", withTop("nats: {user: u}"), "nats.password: is required with nats.user"},
		{"nats password without user", withTop("nats: {password: p}"), "nats.user: is required with nats.password"},
		{"nats cert without key", withTop("nats: {tls: {cert: c.pem}}"), "nats.tls.key: is required with nats.tls.cert"},
		{"nats key without cert", withTop("nats: {tls: {key: k.pem}}"), "nats.tls.cert: is required with nats.tls.key"},
		{"nats tls unknown key", withTop("nats: {tls: {verify: false}}"), "nats.tls.verify: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, tt.file, nil, tt.want)
		})
	}
}

// TestAccessSecretsNotEchoed: a bad signing secret or NATS credential is
// never quoted in the config error.
func TestAccessSecretsNotEchoed(t *testing.T) {
	for _, bad := range []string{"whsec_c2VjcmV0LXNob3J0", "whsec_!!hunter2!!", "hunter2-plain"} {
		got := strings.Join(problems(t, withTarget("signing: {secret: \"${S}\"}"), env(map[string]string{"S": bad})), "\n")
		if strings.Contains(got, bad) || strings.Contains(got, strings.TrimPrefix(bad, "whsec_")) {
			t.Errorf("error echoes the secret:\n%s", got)
		}
	}
	got := strings.Join(problems(t, withTop("nats: {password: hunter2-pw, token: tok-hunter2}"), nil), "\n")
	if strings.Contains(got, "hunter2") {
		t.Errorf("error echoes a NATS credential:\n%s", got)
	}
}

func TestAccessKeysAccepted(t *testing.T) {
	cfg := mustParse(t, withTop(`nats: {user: u, password: p, token: tk, nkey: /s.nk, creds: /c.creds, tls: {ca: ca.pem, cert: c.pem, key: k.pem}}`), nil)
	n := cfg.NATS
	if n.User != "u" || n.Password != "p" || n.Token != "tk" || n.NKey != "/s.nk" || n.Creds != "/c.creds" ||
		n.TLS != (NATSTLS{CA: "ca.pem", Cert: "c.pem", Key: "k.pem"}) {
		t.Errorf("nats %#v", n)
	}
	if s := n.String(); strings.Contains(s, "p}") || strings.Contains(s, "tk") {
		t.Errorf("NATS.String() shows a secret: %s", s)
	}
	cfg = mustParse(t, "targets:\n  a: {endpoints: [\"https://a.example.com\"], allow_private: true, signing: {secret: [\""+goodSecret+"\", \""+goodSecret+"\"]}}\n  b: {endpoints: [\"https://b.example.com\"], signing: {secret: \""+goodSecret+"\"}}\n", nil)
	a, b := cfg.Targets["a"], cfg.Targets["b"]
	if !a.AllowPrivate || b.AllowPrivate {
		t.Errorf("allow_private a=%v b=%v, want true false", a.AllowPrivate, b.AllowPrivate)
	}
	if a.Signing == nil || len(a.Signing.Secrets) != 2 || b.Signing == nil || len(b.Signing.Secrets) != 1 {
		t.Errorf("signing a=%v b=%v", a.Signing, b.Signing)
	}
}
