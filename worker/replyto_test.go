package worker

import "testing"

func TestReplyPolicy(t *testing.T) {
	p := NewReplyPolicy("dispatch", []string{"dispatch.results.>", "$KV.app_results.*"})
	for subject, ok := range map[string]bool{
		"":                                   true,
		"app.results.orders":                 true,
		"_INBOX.abc123":                      true,
		"dispatch.jobs.payments":             false,
		"dispatch.sched.payments.JOBS-1":     false,
		"dispatch.settled.DISPATCH_JOBS-42":  false,
		"$KV.dispatch_instances.x":           false,
		"$JS.API.STREAM.PURGE.DISPATCH_JOBS": false,
		"$SYS.REQ.SERVER.PING":               false,
		"$O.bucket.x":                        false,
		"dispatch.results.orders":            true, // allowed by pattern
		"$KV.app_results.k":                  true,
		"$KV.app_results.k.deeper":           false,
		"dispatchers.jobs.x":                 true, // another prefix, token-wise
	} {
		if got := p.Allowed(subject); got != ok {
			t.Errorf("Allowed(%q) = %v, want %v (%s)", subject, got, ok, p.refuse(subject))
		}
	}
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"a.>", "a", false}, {"a.>", "a.b", true}, {"a.>", "a.b.c", true}, {"a.*", "a.b", true},
		{"a.*", "a.b.c", false}, {"a.b", "a.b", true}, {"a.b", "a.B", false}, {">", "x", true},
	} {
		if got := SubjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("SubjectMatches(%q, %q) = %v", c.pattern, c.subject, got)
		}
	}
}
