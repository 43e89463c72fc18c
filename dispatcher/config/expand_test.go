package config

import (
	"slices"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := env(map[string]string{"A": "1", "B_2": "two", "EMPTY": "", "REF": "${A}"})
	tests := []struct {
		name        string
		in, want    string
		wantMissing []string
		wantErr     string
	}{
		{name: "no reference", in: "plain $A text", want: "plain $A text"},
		{name: "one reference", in: "${A}", want: "1"},
		{name: "references in text", in: "x${A}-${B_2}y", want: "x1-twoy"},
		{name: "empty value", in: "[${EMPTY}]", want: "[]"},
		{name: "value not expanded again", in: "${REF}", want: "${A}"},
		{name: "escaped", in: "$${A}", want: "${A}"},
		{name: "escaped beside reference", in: "$${A}=${A}", want: "${A}=1"},
		{name: "lone dollars kept", in: "$$ and $ and ${A}", want: "$$ and $ and 1"},
		{name: "missing", in: "${NOPE} ${A} ${ALSO} ${NOPE}", wantMissing: []string{"NOPE", "ALSO"}},
		{name: "unterminated", in: "${A", wantErr: `unterminated "${" (write "$${" for a literal "${")`},
		{name: "bad name", in: "${1A}", wantErr: `invalid environment variable reference "${1A}"`},
		{name: "default syntax not supported", in: "${A:-x}", wantErr: `invalid environment variable reference "${A:-x}"`},
		{name: "empty name", in: "${}", wantErr: `invalid environment variable reference "${}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing, err := expand(tt.in, vars)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("expand(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("expand(%q): %v", tt.in, err)
			}
			if !slices.Equal(missing, tt.wantMissing) {
				t.Fatalf("expand(%q) missing = %v, want %v", tt.in, missing, tt.wantMissing)
			}
			if tt.wantMissing == nil && got != tt.want {
				t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseExpandsEnvironment(t *testing.T) {
	vars := env(map[string]string{
		"TOKEN": "s3cret", "CONC": "12", "URL": "https://env.example.com", "INJECT": "x\nretrys: 1", "TOTAL": "19s",
	})
	cfg := mustParse(t, `
service_name: "svc-${CONC}"
targets:
  a:
    endpoints: ["${URL}", "https://b.example.com/$${literal}"]
    headers: {Authorization: "Bearer ${TOKEN}"}
    concurrency: ${CONC}
    timeouts: {total: "${TOTAL}"}
    fallback:
      status: 202
      body:
        n: ${CONC}
        s: "${CONC}"
        lit: $${CONC}
        note: ${INJECT}
`, vars)
	a := cfg.Targets["a"]
	tests := []struct {
		name      string
		got, want any
	}{
		{"string value", cfg.ServiceName, "svc-12"},
		{"list item", a.Endpoints[0], "https://env.example.com"},
		{"escape in list item", a.Endpoints[1], "https://b.example.com/${literal}"},
		{"header value", a.Headers["Authorization"], "Bearer s3cret"},
		{"plain scalar typed by its value", a.Concurrency, 12},
		{"quoted duration", a.Timeouts.Total.String(), "19s"},
		{"body: plain number, quoted string, escape, no injection", string(a.Fallback.Body), `{"n":12,"s":"12","lit":"${CONC}","note":"x\nretrys: 1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestParseEnvironmentErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{
			name: "missing variable names key path and variable",
			file: "targets:\n  payments:\n    endpoints: [\"https://pay.example.com\"]\n    headers: {Authorization: \"Bearer ${PAYMENTS_TOKEN}\"}\n",
			want: "targets.payments.headers.Authorization: environment variable PAYMENTS_TOKEN is not set",
		},
		{
			name: "missing variable in list item",
			file: "targets:\n  a:\n    endpoints: [\"${A_URL}\"]\n",
			want: "targets.a.endpoints[0]: environment variable A_URL is not set",
		},
		{
			name: "missing variable in typed field",
			file: withTop("nats:\n  replicas: ${REPLICAS}"),
			want: "nats.replicas: environment variable REPLICAS is not set",
		},
		{
			name: "missing variable in fallback body",
			file: withTarget("fallback: {status: 202, body: {a: [\"${DEEP}\"]}}"),
			want: "targets.a.fallback.body.a[0]: environment variable DEEP is not set",
		},
		{
			name: "unterminated reference",
			file: withTop("service_name: \"${NAME\""),
			want: `service_name: unterminated "${" (write "$${" for a literal "${")`,
		},
		{
			name: "empty value in typed field",
			file: withTarget("concurrency: ${EMPTY}"),
			want: `targets.a.concurrency: must be an integer, got ""`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, tt.file, env(map[string]string{"EMPTY": ""}), tt.want)
		})
	}
}

func TestParseEnvironmentKeysNotExpanded(t *testing.T) {
	wantProblem(t, withTop("${KEY}: x"), env(map[string]string{"KEY": "service_name"}), `"${KEY}": unknown key`)
}
