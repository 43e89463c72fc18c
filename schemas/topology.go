package schemas

import (
	"hash/fnv"
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

// DueConsumerName is the durable consumer of a target's fired copies in
// the per-target consumption of earlier versions: dispatch_due_<target>.
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

// Partitions. The jobs stream stores a job published on <p>.jobs.<target>
// as <p>.part.<k>.<target>, k the target's partition (Partition), and the
// scheduling stream stores a copy fired onto <p>.due.<target> as
// <p>.duepart.<k>.<target>: subject transforms of the streams do it, with
// NATS's partition() mapping. Neither subject space is one any stream
// listens on, so no publisher can write there, and neither looks like
// <p>.jobs.<anything>. Each partition has one durable consumer per stream,
// shared by every instance.

// Partition is the partition of target among n: what NATS's
// {{partition(n,1)}} mapping computes for a subject whose first wildcard
// token is target (FNV-1a, 32 bits, modulo n).
func Partition(target string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(target))
	return int(h.Sum32() % uint32(n))
}

// PartSubject is where the jobs stream stores target's jobs of partition
// k: <p>.part.<k>.<target>.
func (t Topology) PartSubject(k int, target string) string {
	return t.Prefix + ".part." + strconv.Itoa(k) + "." + target
}

// PartFilter matches the jobs of partition k: <p>.part.<k>.>.
func (t Topology) PartFilter(k int) string { return t.Prefix + ".part." + strconv.Itoa(k) + ".>" }

// PartWildcard matches the jobs of every partition: <p>.part.>.
func (t Topology) PartWildcard() string { return t.Prefix + ".part.>" }

// DuePartSubject is where the scheduling stream stores target's fired
// copies of partition k: <p>.duepart.<k>.<target>.
func (t Topology) DuePartSubject(k int, target string) string {
	return t.Prefix + ".duepart." + strconv.Itoa(k) + "." + target
}

// DuePartFilter matches the fired copies of partition k: <p>.duepart.<k>.>.
func (t Topology) DuePartFilter(k int) string {
	return t.Prefix + ".duepart." + strconv.Itoa(k) + ".>"
}

// DuePartWildcard matches the fired copies of every partition: <p>.duepart.>.
func (t Topology) DuePartWildcard() string { return t.Prefix + ".duepart.>" }

// PartTarget is the partition and the target of a subject
// <p>.part.<k>.<target> or <p>.duepart.<k>.<target>.
func (t Topology) PartTarget(subject string) (k int, target string, ok bool) {
	rest, ok := cutPrefix(subject, t.Prefix+".part.")
	if !ok {
		if rest, ok = cutPrefix(subject, t.Prefix+".duepart."); !ok {
			return 0, "", false
		}
	}
	num, target, ok := strings.Cut(rest, ".")
	if !ok || target == "" {
		return 0, "", false
	}
	k, err := strconv.Atoi(num)
	if err != nil || k < 0 {
		return 0, "", false
	}
	return k, target, true
}

// JobsTransform is the subject transform of the jobs stream with n
// partitions: <p>.jobs.* to <p>.part.{{partition(n,1)}}.{{wildcard(1)}}.
// Subjects of more tokens (<p>.jobs.a.b) do not match it: they are stored
// as published, consumed by no partition, and swept as orphans.
func (t Topology) JobsTransform(n int) (source, destination string) {
	return t.Prefix + ".jobs.*", t.Prefix + ".part.{{partition(" + strconv.Itoa(n) + ",1)}}.{{wildcard(1)}}"
}

// TransformPartitions is n for the destination of a jobs stream transform
// JobsTransform(n) made; ok is false for any other destination (none: a
// stream of a release before partitions).
func (t Topology) TransformPartitions(destination string) (n int, ok bool) {
	head := t.Prefix + ".part.{{partition("
	num, _, found := strings.Cut(strings.TrimPrefix(destination, head), ",")
	if !strings.HasPrefix(destination, head) || !found {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return 0, false
	}
	if _, want := t.JobsTransform(n); want != destination {
		return 0, false
	}
	return n, true
}

// DueTransform is the subject transform of the scheduling stream with n
// partitions: <p>.due.* to <p>.duepart.{{partition(n,1)}}.{{wildcard(1)}}.
func (t Topology) DueTransform(n int) (source, destination string) {
	return t.Prefix + ".due.*", t.Prefix + ".duepart.{{partition(" + strconv.Itoa(n) + ",1)}}.{{wildcard(1)}}"
}

// PartConsumerName is the durable consumer of partition k on the jobs
// stream: dispatcher-jobs-<k>. (Not dispatch_…: no target's consumer name
// of the per-target consumption can take it.)
func (t Topology) PartConsumerName(k int) string { return "dispatcher-jobs-" + strconv.Itoa(k) }

// DuePartConsumerName is the durable consumer of partition k on the
// scheduling stream: dispatcher-due-<k>.
func (t Topology) DuePartConsumerName(k int) string { return "dispatcher-due-" + strconv.Itoa(k) }

// PartConsumerIndex is k for a partition consumer's name on the jobs
// stream (due false) or the scheduling stream (due true).
func (t Topology) PartConsumerIndex(name string, due bool) (int, bool) {
	prefix := "dispatcher-jobs-"
	if due {
		prefix = "dispatcher-due-"
	}
	num, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	k, err := strconv.Atoi(num)
	if err != nil || k < 0 || strconv.Itoa(k) != num {
		return 0, false
	}
	return k, true
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

// ConsumerName is the durable consumer of a target in the per-target
// consumption of earlier versions: dispatch_<target>. The service drains
// and removes those it finds (legacy.go).
func (t Topology) ConsumerName(target string) string { return "dispatch_" + target }

// Migrating a jobs stream. 'dispatcher streams migrate-jobs' recreates a
// jobs stream created before partitions (one that allows scheduled
// messages, which JetStream cannot turn off) through a holding stream of
// its own: the old stream is first retired onto <p>.migrating.retired.>
// (no publisher reaches it there), every message of it is held in the
// holding stream under <p>.migrating.held.<seq>.<subject>, the old stream
// is deleted and created anew, and the held messages are published again.

// HoldingStream is the holding stream of a jobs stream migration, e.g.
// DISPATCH_JOBS_MIGRATION.
func (t Topology) HoldingStream() string { return t.JobsStream() + "_MIGRATION" }

// RetiredWildcard is the only subject of a jobs stream being migrated:
// <p>.migrating.retired.>. Nothing publishes there.
func (t Topology) RetiredWildcard() string { return t.Prefix + ".migrating.retired.>" }

// HeldSubject is where the holding stream keeps the message stored at seq
// on subject in the old jobs stream: <p>.migrating.held.<seq>.<subject>.
func (t Topology) HeldSubject(seq uint64, subject string) string {
	return t.Prefix + ".migrating.held." + strconv.FormatUint(seq, 10) + "." + subject
}

// HeldWildcard matches every held message: <p>.migrating.held.>.
func (t Topology) HeldWildcard() string { return t.Prefix + ".migrating.held.>" }

// HeldFilter matches the held messages that were stored on a subject
// matching filter (e.g. RetryWildcard()): <p>.migrating.held.*.<filter>.
func (t Topology) HeldFilter(filter string) string { return t.Prefix + ".migrating.held.*." + filter }

// HeldSource is the sequence and the subject in the old jobs stream of a
// held message's subject.
func (t Topology) HeldSource(subject string) (seq uint64, original string, ok bool) {
	rest, ok := cutPrefix(subject, t.Prefix+".migrating.held.")
	if !ok {
		return 0, "", false
	}
	num, original, ok := strings.Cut(rest, ".")
	if !ok || original == "" {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil || seq == 0 {
		return 0, "", false
	}
	return seq, original, true
}

// MigrationProgressSubject is where a migration notes, in the holding
// stream, how far it has published the held messages again:
// <p>.migrating.progress.
func (t Topology) MigrationProgressSubject() string { return t.Prefix + ".migrating.progress" }

// InstancesBucket is the KV bucket of the fleet's heartbeats, e.g.
// dispatch_instances.
func (t Topology) InstancesBucket() string { return t.bucketBase() + "_instances" }

// KeysBucket is the KV bucket of the keys the fleet shares, e.g.
// dispatch_keys.
func (t Topology) KeysBucket() string { return t.bucketBase() + "_keys" }

// BreakersBucket is the KV bucket of the fleet's breaker states, e.g.
// dispatch_breakers.
func (t Topology) BreakersBucket() string { return t.bucketBase() + "_breakers" }

// PausesBucket is the KV bucket of the paused targets, e.g.
// dispatch_pauses: one key per paused target, its name.
func (t Topology) PausesBucket() string { return t.bucketBase() + "_pauses" }

// AuditStream is the stream of the audit records, e.g. DISPATCH_AUDIT:
// what operators did (pause, resume, replay, purge), from the command line
// or the console.
func (t Topology) AuditStream() string { return t.streamBase() + "_AUDIT" }

// AuditSubject is where an audit record of action is stored:
// <p>.audit.<action> (one of AuditActions).
func (t Topology) AuditSubject(action string) string { return t.Prefix + ".audit." + action }

// AuditWildcard matches every audit subject: <p>.audit.>.
func (t Topology) AuditWildcard() string { return t.Prefix + ".audit.>" }

// AuditAction is the action part of an audit subject.
func (t Topology) AuditAction(subject string) (action string, ok bool) {
	return cutPrefix(subject, t.Prefix+".audit.")
}

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
