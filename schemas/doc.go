// Package schemas owns the wire formats of dispatcher: the JSON Schemas (v1)
// of a job, a dead-letter record, a fallback record and a result, embedded
// from the *.schema.json files beside this file, and the Go types that
// encode and decode them. DecodeJob is the strict decoder every worker uses;
// it enforces the same rules as job.v1.schema.json, and the tests hold the
// two to each other.
package schemas
