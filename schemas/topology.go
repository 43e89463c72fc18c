package schemas

import "strings"

// Topology names every stream, subject, consumer and KV bucket of one
// subject prefix: the one place they are spelled.
type Topology struct {
	// Prefix is nats.subject_prefix, e.g. "dispatch" (see ValidPrefix).
	Prefix string
}

// JobsStream is e.g. DISPATCH_JOBS.
func (t Topology) JobsStream() string { return t.streamBase() + "_JOBS" }

// DLQStream is e.g. DISPATCH_DLQ.
func (t Topology) DLQStream() string { return t.streamBase() + "_DLQ" }

// FallbackStream is e.g. DISPATCH_FALLBACK.
func (t Topology) FallbackStream() string { return t.streamBase() + "_FALLBACK" }

// JobsSubject is where jobs for target are published: <p>.jobs.<target>.
func (t Topology) JobsSubject(target string) string { return t.Prefix + ".jobs." + target }

// JobsWildcard matches every jobs subject: <p>.jobs.>.
func (t Topology) JobsWildcard() string { return t.Prefix + ".jobs.>" }

// JobsTarget is the target part of a jobs subject (everything after
// <p>.jobs.); ok is false for a subject outside the jobs subjects.
func (t Topology) JobsTarget(subject string) (target string, ok bool) {
	return cutPrefix(subject, t.Prefix+".jobs.")
}

// RetrySubject is where the retry of the delivery with stream sequence seq
// of a target's job is scheduled: <p>.retry.<target>.<seq>.
func (t Topology) RetrySubject(target, seq string) string {
	return t.Prefix + ".retry." + target + "." + seq
}

// RetryWildcard matches every retry subject: <p>.retry.>.
func (t Topology) RetryWildcard() string { return t.Prefix + ".retry.>" }

// RetryTarget is the target of a retry subject <p>.retry.<target>.<seq>.
func (t Topology) RetryTarget(subject string) (target string, ok bool) {
	rest, ok := cutPrefix(subject, t.Prefix+".retry.")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// DLQSubject is where target's dead letters are stored: <p>.dlq.<target>.
func (t Topology) DLQSubject(target string) string { return t.Prefix + ".dlq." + target }

// DLQWildcard matches every dead-letter subject: <p>.dlq.>.
func (t Topology) DLQWildcard() string { return t.Prefix + ".dlq.>" }

// DLQTarget is the target part of a dead-letter subject.
func (t Topology) DLQTarget(subject string) (target string, ok bool) {
	return cutPrefix(subject, t.Prefix+".dlq.")
}

// FallbackSubject is where target's fallback records are stored:
// <p>.fallback.<target>.
func (t Topology) FallbackSubject(target string) string { return t.Prefix + ".fallback." + target }

// FallbackWildcard matches every fallback subject: <p>.fallback.>.
func (t Topology) FallbackWildcard() string { return t.Prefix + ".fallback.>" }

// FallbackTarget is the target part of a fallback subject.
func (t Topology) FallbackTarget(subject string) (target string, ok bool) {
	return cutPrefix(subject, t.Prefix+".fallback.")
}

// ConsumerName is the durable consumer of a target: dispatch_<target>.
func (t Topology) ConsumerName(target string) string { return "dispatch_" + target }

// InstancesBucket is the KV bucket of the fleet's heartbeats, e.g.
// dispatch_instances.
func (t Topology) InstancesBucket() string { return t.bucketBase() + "_instances" }

// BreakersBucket is the KV bucket of the fleet's breaker states, e.g.
// dispatch_breakers.
func (t Topology) BreakersBucket() string { return t.bucketBase() + "_breakers" }

func (t Topology) streamBase() string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(t.Prefix))
}

func (t Topology) bucketBase() string { return strings.ReplaceAll(t.Prefix, ".", "_") }

func cutPrefix(s, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" {
		return "", false
	}
	return rest, true
}

// ValidPrefix reports whether p can be a subject prefix: dot-separated
// tokens of letters, digits, _ and -, so that every stream, consumer and
// bucket name built from it is valid too. Config, client and CLI use it.
func ValidPrefix(p string) bool {
	if p == "" {
		return false
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; !isAlnum(c) && c != '_' && c != '-' {
				return false
			}
		}
	}
	return true
}

// CheckSubject returns why s is not a NATS subject one can publish to (""
// when it is): non-empty tokens, no wildcards, no whitespace or control
// characters, at most 255 bytes.
func CheckSubject(s string) string { return checkSubject(s) }
