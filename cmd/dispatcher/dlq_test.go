package main

import (
	"errors"
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
