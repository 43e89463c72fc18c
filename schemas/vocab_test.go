package schemas

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestVocabularyMatchesSchemas holds every enum of the JSON Schemas to the
// Go vocabulary it spells: a class, reason, outcome or breaker state added
// on one side and not the other fails here.
func TestVocabularyMatchesSchemas(t *testing.T) {
	states := make([]string, 0, len(BreakerStates))
	for _, s := range BreakerStates {
		states = append(states, s.String())
	}
	withEmpty := append([]string{""}, ErrorClasses...)
	cases := []struct {
		schema string
		path   []string
		want   []string
	}{
		{DeadLetterSchema, []string{"properties", "reason", "enum"}, Reasons},
		{DeadLetterSchema, []string{"$defs", "errorClass", "enum"}, withEmpty},
		{ResultSchema, []string{"properties", "outcome", "enum"}, Outcomes},
		{ResultSchema, []string{"properties", "error_class", "enum"}, withEmpty},
		{FallbackSchema, []string{"properties", "reason", "enum"}, []string{ReasonCircuitOpen}},
		{FallbackSchema, []string{"properties", "breaker_state", "enum"}, states},
		{DeadLetterSchema, []string{"$defs", "truncated", "items", "enum"}, CutParts},
		{FallbackSchema, []string{"$defs", "truncated", "items", "enum"}, CutParts},
		{ResultSchema, []string{"$defs", "truncated", "items", "enum"}, CutParts},
		{AuditSchema, []string{"properties", "action", "enum"}, AuditActions},
		{AuditSchema, []string{"properties", "result", "enum"}, AuditResults},
	}
	for _, c := range cases {
		raw, err := files.ReadFile(c.schema)
		if err != nil {
			t.Fatal(err)
		}
		var node any
		if err := json.Unmarshal(raw, &node); err != nil {
			t.Fatal(err)
		}
		for _, k := range c.path {
			m, ok := node.(map[string]any)
			if !ok {
				t.Fatalf("%s: no %v", c.schema, c.path)
			}
			node = m[k]
		}
		var got []string
		for _, v := range node.([]any) {
			got = append(got, v.(string))
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(c.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s %v = %q, the Go vocabulary has %q", c.schema, c.path, got, want)
		}
	}
}

// TestTopologyTargets holds each subject builder to its parser.
func TestTopologyTargets(t *testing.T) {
	topo := Topology{Prefix: "acme.dispatch"}
	for _, c := range []struct {
		subject string
		parse   func(string) (string, bool)
		want    string
		ok      bool
	}{
		{topo.JobsSubject("payments"), topo.JobsTarget, "payments", true},
		{topo.RetrySubject("payments", "42"), topo.RetryTarget, "payments", true},
		{topo.DLQSubject("payments"), topo.DLQTarget, "payments", true},
		{topo.FallbackSubject("payments"), topo.FallbackTarget, "payments", true},
		{"acme.dispatch.jobs.", topo.JobsTarget, "", false},
		{"other.jobs.payments", topo.JobsTarget, "", false},
		{"acme.dispatch.retry.42", topo.RetryTarget, "", false},
	} {
		got, ok := c.parse(c.subject)
		if got != c.want || ok != c.ok {
			t.Errorf("parse(%q) = %q, %v; want %q, %v", c.subject, got, ok, c.want, c.ok)
		}
	}
	if topo.JobsStream() != "ACME_DISPATCH_JOBS" || topo.InstancesBucket() != "acme_dispatch_instances" {
		t.Errorf("names: %s %s", topo.JobsStream(), topo.InstancesBucket())
	}
	for p, ok := range map[string]bool{"dispatch": true, "a.b-c_d": true, "": false, "a..b": false, "a.*": false, "a b": false, "a$b": false} {
		if ValidPrefix(p) != ok {
			t.Errorf("ValidPrefix(%q) = %v, want %v", p, !ok, ok)
		}
	}
}

// TestTransformPartitions holds JobsTransform to its parser.
func TestTransformPartitions(t *testing.T) {
	topo := Topology{Prefix: "acme.dispatch"}
	for _, n := range []int{1, 8, 64} {
		_, dest := topo.JobsTransform(n)
		if got, ok := topo.TransformPartitions(dest); !ok || got != n {
			t.Errorf("TransformPartitions(%q) = %d, %v; want %d", dest, got, ok, n)
		}
	}
	_, other := Topology{Prefix: "other"}.JobsTransform(8)
	_, due := topo.DueTransform(8)
	for _, dest := range []string{"", other, due, "acme.dispatch.part.{{partition(0,1)}}.{{wildcard(1)}}",
		"acme.dispatch.part.{{partition(8,2)}}.{{wildcard(1)}}", "acme.dispatch.part.{{partition(x,1)}}.{{wildcard(1)}}"} {
		if n, ok := topo.TransformPartitions(dest); ok {
			t.Errorf("TransformPartitions(%q) = %d, want not ok", dest, n)
		}
	}
}

// TestHeldSource holds HeldSubject to its parser, whatever the subject held.
func TestHeldSource(t *testing.T) {
	topo := Topology{Prefix: "acme.dispatch"}
	for _, c := range []struct {
		name    string
		seq     uint64
		subject string
	}{
		{"job", 1, topo.JobsSubject("payments")},
		{"partitioned", 42, topo.PartSubject(3, "payments")},
		{"retry copy", 7, topo.RetrySubject("payments", "6")},
		{"multi-token", 18446744073709551615, "acme.dispatch.jobs.a.b.c"},
	} {
		t.Run(c.name, func(t *testing.T) {
			held := topo.HeldSubject(c.seq, c.subject)
			if !strings.HasPrefix(held, "acme.dispatch.migrating.held.") || CheckSubject(held) != "" {
				t.Fatalf("HeldSubject = %q", held)
			}
			seq, orig, ok := topo.HeldSource(held)
			if !ok || seq != c.seq || orig != c.subject {
				t.Errorf("HeldSource(%q) = %d, %q, %v; want %d, %q", held, seq, orig, ok, c.seq, c.subject)
			}
		})
	}
	for _, bad := range []string{"acme.dispatch.migrating.held.0.x", "acme.dispatch.migrating.held.x.y", "acme.dispatch.migrating.held.5",
		topo.MigrationProgressSubject(), topo.JobsSubject("p")} {
		if _, _, ok := topo.HeldSource(bad); ok {
			t.Errorf("HeldSource(%q) ok", bad)
		}
	}
	if topo.HoldingStream() != "ACME_DISPATCH_JOBS_MIGRATION" {
		t.Errorf("HoldingStream = %s", topo.HoldingStream())
	}
}
