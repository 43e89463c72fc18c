package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"2026-11-25", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), true},
		{"2026-11-25T08:30:00Z", time.Date(2026, 11, 25, 8, 30, 0, 0, time.UTC), true},
		{"2026-11-25T08:30:00+01:00", time.Date(2026, 11, 25, 7, 30, 0, 0, time.UTC), true},
		{"2026-11-25 08:30:00", time.Date(2026, 11, 25, 8, 30, 0, 0, time.UTC), true},
		{"-5m", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseWhen("since", tt.in, now)
			if !tt.ok {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != exitUsage {
					t.Fatalf("error %v, want a usage error", err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestSelectorNeeded(t *testing.T) {
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"nothing", nil, false},
		{"all", []string{"--all"}, true},
		{"target", []string{"--target", "a"}, true},
		{"seq", []string{"--seq", "3", "--seq", "4"}, true},
		{"all and filter", []string{"--all", "--reason", "expired"}, false},
		{"limit alone", []string{"--limit", "3"}, false},
		{"bad reason", []string{"--reason", "tired"}, false},
		{"since after until", []string{"--since", "1h", "--until", "2h"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f selectorFlags
			cmd := &cobra.Command{Use: "replay"}
			f.register(cmd)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			_, err := f.filter(cmd, time.Now())
			if tt.ok != (err == nil) {
				t.Fatalf("filter: %v", err)
			}
			var ee *exitError
			if err != nil && (!errors.As(err, &ee) || ee.code != exitUsage) {
				t.Fatalf("error %v is not a usage error", err)
			}
		})
	}
}

// TestSelectorNotFromEnv: an exported DISPATCHER_TARGET (or any filter's
// variable) must not turn a bare replay or purge into "every dead letter of
// that target", nor stand beside --all; and a selector given an empty value
// (--target "$UNSET") must not read as "no filter", that is every record.
// Given a selector on the command line, the variables still narrow it.
func TestSelectorNotFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		ok      bool
		mention string // in the error, or in narrowedBy when ok
	}{
		{"env target alone", map[string]string{"DISPATCHER_TARGET": "payments"}, nil, false, "--target payments"},
		{"env reason alone", map[string]string{"DISPATCHER_REASON": "expired"}, nil, false, "--reason expired"},
		{"env since alone", map[string]string{"DISPATCHER_SINCE": "1h"}, nil, false, "--since 1h"},
		{"env job id alone", map[string]string{"DISPATCHER_JOB_ID": "ord-1"}, nil, false, "--job-id ord-1"},
		{"env limit alone", map[string]string{"DISPATCHER_LIMIT": "5"}, nil, false, "needs a selector"},
		{"env target with all", map[string]string{"DISPATCHER_TARGET": "payments"}, []string{"--all"}, false, "DISPATCHER_TARGET=payments"},
		{"empty target", nil, []string{"--target", ""}, false, "--target with an empty value"},
		{"empty since", nil, []string{"--since", ""}, false, "--since with an empty value"},
		{"empty job id element", nil, []string{"--job-id", "a,"}, false, "--job-id with an empty value"},
		{"env target narrows a flag", map[string]string{"DISPATCHER_TARGET": "payments"}, []string{"--reason", "expired"}, true, "DISPATCHER_TARGET=payments"},
		{"env target narrows seq", map[string]string{"DISPATCHER_TARGET": "payments"}, []string{"--seq", "7"}, true, "DISPATCHER_TARGET=payments"},
		{"flag wins over env", map[string]string{"DISPATCHER_TARGET": "payments"}, []string{"--target", "orders"}, true, ""},
		{"all without env", nil, []string{"--all"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var f selectorFlags
			cmd := &cobra.Command{Use: "purge"}
			f.register(cmd)
			envFlags(cmd, "seq", "all")
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := applyEnv(cmd); err != nil {
				t.Fatal(err)
			}
			flt, err := f.filter(cmd, time.Now())
			if !tt.ok {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != exitUsage {
					t.Fatalf("filter %+v, error %v; want a usage error", flt, err)
				}
				if !strings.Contains(err.Error(), tt.mention) {
					t.Errorf("error %q does not say %q", err, tt.mention)
				}
				return
			}
			if err != nil {
				t.Fatalf("filter: %v", err)
			}
			if got := strings.Join(f.narrowedBy, " "); !strings.Contains(got, tt.mention) || (tt.mention == "") != (got == "") {
				t.Errorf("narrowed by %q, want %q", got, tt.mention)
			}
			if tt.name == "flag wins over env" && (len(flt.Targets) != 1 || flt.Targets[0] != "orders") {
				t.Errorf("targets %v, want the flag's", flt.Targets)
			}
			if tt.name == "env target narrows a flag" && (len(flt.Targets) != 1 || flt.Targets[0] != "payments") {
				t.Errorf("targets %v, want the variable's", flt.Targets)
			}
		})
	}
}
