// Package audit owns the audit stream, <S>_AUDIT on <p>.audit.<action>:
// what operators did — pause and resume a target, replay and purge dead
// letters —, from the command line or the console, each action one record
// (schemas.AuditRecord, schemas/audit.v1.schema.json): who, what, on which
// selection, how many, when, and with what result.
//
// Append stores a record; List reads them back without consuming or
// changing the stream. StreamConfig is the stream as the service creates
// it (dispatcher.EnsureStreams); Append creates it with the defaults when
// no service of this version has run yet.
package audit
