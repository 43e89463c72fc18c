package worker

import "strings"

// ReplyPolicy says where results may be published. A job's reply_to is
// publisher input, and results go out with the service's own credentials:
// never into the service's own namespaces — its subject prefix (jobs,
// scheduled copies, settle markers, records) and NATS's ($KV, $JS, $SYS,
// $O) — unless an allow pattern (security.reply_to_allow) names it.
type ReplyPolicy struct {
	forbidden []subjectPattern
	allow     []subjectPattern
}

// subjectPattern is a NATS subject pattern, split into its tokens once.
type subjectPattern struct {
	text   string
	tokens []string
}

func patternsOf(texts []string) []subjectPattern {
	out := make([]subjectPattern, len(texts))
	for i, t := range texts {
		out[i] = subjectPattern{text: t, tokens: strings.Split(t, ".")}
	}
	return out
}

// NewReplyPolicy returns the policy of subject prefix with allow patterns
// (NATS subject patterns: * one token, > the rest).
func NewReplyPolicy(prefix string, allow []string) *ReplyPolicy {
	return &ReplyPolicy{
		forbidden: patternsOf([]string{prefix + ".>", "$KV.>", "$JS.>", "$SYS.>", "$O.>"}),
		allow:     patternsOf(allow),
	}
}

// refuse returns why subject may not take a result ("" when it may, or is
// empty: no result).
func (p *ReplyPolicy) refuse(subject string) string {
	if subject == "" || p == nil {
		return ""
	}
	st := strings.Split(subject, ".")
	for _, a := range p.allow {
		if tokensMatch(a.tokens, st) {
			return ""
		}
	}
	for _, f := range p.forbidden {
		if tokensMatch(f.tokens, st) {
			return subject + " is in the service's own namespace " + f.text + " (security.reply_to_allow can admit it)"
		}
	}
	return ""
}

// Allowed reports whether a result may be published to subject.
func (p *ReplyPolicy) Allowed(subject string) bool { return p.refuse(subject) == "" }

// SubjectMatches reports whether subject matches the NATS subject pattern
// (tokens split on '.', '*' matching one token, a final '>' the rest).
// Token comparison is exact, case included, as NATS does.
func SubjectMatches(pattern, subject string) bool {
	return tokensMatch(strings.Split(pattern, "."), strings.Split(subject, "."))
}

// tokensMatch is SubjectMatches on the tokens of pattern (pt) and subject
// (st).
func tokensMatch(pt, st []string) bool {
	for i, tok := range pt {
		if tok == ">" {
			return i < len(st)
		}
		if i >= len(st) || (tok != "*" && tok != st[i]) {
			return false
		}
	}
	return len(pt) == len(st)
}
