// Package schemas owns the wire formats of dispatcher: the JSON Schemas (v1)
// of a job, a dead-letter record, a fallback record, a result and an audit
// record, embedded from the *.schema.json files beside this file, and the Go
// types that encode and decode them. DecodeJob is the strict decoder every worker uses;
// it enforces the same rules as job.v1.schema.json, and the tests hold the
// two to each other.
//
// Validate checks any document against one of the schemas (Compiled gives
// the compiled schema itself); it is meant for tests, tools and cold paths.
//
// Two rules of the job format are worth knowing. An optional job field set
// to null is invalid, except body and meta, where null means absent. When a
// key appears twice in a job, the last occurrence counts, as with any JSON
// object decoder.
package schemas
