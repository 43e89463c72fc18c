package schemas

import (
	"strconv"
	"strings"
)

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

// RetrySubject is where retries were scheduled before the scheduling
// stream existed: <p>.retry.<target>.<seq>, in the jobs stream. Copies
// stored there still fire onto <p>.jobs.<target>.
func (t Topology) RetrySubject(target, seq string) string {
	return t.Prefix + ".retry." + target + "." + seq
}

// RetryWildcard matches every retry subject of the jobs stream: <p>.retry.>.
func (t Topology) RetryWildcard() string { return t.Prefix + ".retry.>" }

// RetryTarget is the target of a subject <p>.retry.<target>.<seq> or
// <p>.sched.<target>.<key>.
func (t Topology) RetryTarget(subject string) (target string, ok bool) {
	rest, ok := cutPrefix(subject, t.Prefix+".retry.")
	if !ok {
		if rest, ok = cutPrefix(subject, t.Prefix+".sched."); !ok {
			return "", false
		}
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// SchedStream is the scheduling stream, e.g. DISPATCH_SCHED: the service's
// own, holding the scheduled copies of jobs (retries, postponements,
// holds), the copies they fire, and the settle markers. Publishers have no
// business there.
func (t Topology) SchedStream() string { return t.streamBase() + "_SCHED" }

// SchedSubject is where a copy of a target's job is scheduled: <p>.sched.<target>.<key>,
// key naming the delivery it carries on (see DeliveryKey).
func (t Topology) SchedSubject(target, key string) string {
	return t.Prefix + ".sched." + target + "." + key
}

// SchedWildcard matches every scheduled copy: <p>.sched.>.
func (t Topology) SchedWildcard() string { return t.Prefix + ".sched.>" }

// DueSubject is where a scheduled copy fires: <p>.due.<target>.
func (t Topology) DueSubject(target string) string { return t.Prefix + ".due." + target }

// DueWildcard matches every fired copy: <p>.due.>.
func (t Topology) DueWildcard() string { return t.Prefix + ".due.>" }

// DueTarget is the target part of a due subject.
func (t Topology) DueTarget(subject string) (target string, ok bool) {
	return cutPrefix(subject, t.Prefix+".due.")
}

// DueConsumerName is the durable consumer of a target's fired copies:
// dispatch_due_<target>.
func (t Topology) DueConsumerName(target string) string { return "dispatch_due_" + target }

// DeliveryKey names a delivery across the streams jobs come from: the
// stream's name and the message's sequence in it, e.g. DISPATCH_JOBS-42.
func DeliveryKey(stream string, seq uint64) string {
	return stream + "-" + strconv.FormatUint(seq, 10)
}

// SettledSubject is the settle marker of a delivery (DeliveryKey):
// <p>.settled.<key>, in the scheduling stream. Written before the outcome
// it announces is stored, it lets a redelivered copy of the delivery redo
// that outcome (idempotently) instead of deciding again.
func (t Topology) SettledSubject(key string) string { return t.Prefix + ".settled." + key }

// SettledWildcard matches every settle marker: <p>.settled.>.
func (t Topology) SettledWildcard() string { return t.Prefix + ".settled.>" }

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

// KeysBucket is the KV bucket of the keys the fleet shares, e.g.
// dispatch_keys.
func (t Topology) KeysBucket() string { return t.bucketBase() + "_keys" }

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
