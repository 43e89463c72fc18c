// Package config owns the dispatcher's configuration file: reading it,
// expanding environment references, decoding it strictly, merging the
// per-target settings over the defaults and validating the result.
//
// The file format is documented in docs/config.md (section 4 of
// docs/contract.md). Load and Parse return a [Config] whose every field holds
// its resolved value: nothing in it needs a further default. Each target in [Config.Targets] is the merge, key by
// key, of the built-in defaults, the file's defaults section and the target's
// own keys, so a target that sets only retry.max_attempts keeps every other
// retry key from the defaults. A key that is absent (or null) takes the value
// of the layer below; a key that is present, even with a zero value such as
// randomization: 0, keeps that value.
//
// References of the form ${NAME} in scalar values are replaced by the value
// of the environment variable NAME after the YAML has been parsed, so an
// environment value can never add keys or change the structure of the file.
// $${ is a literal ${. Keys are never expanded. An expanded plain (unquoted)
// scalar is typed by its new value, so concurrency: ${CONCURRENCY} decodes as
// an integer; a quoted one stays a string.
//
// Every problem found in a file is reported at once, each naming the dotted
// key path it concerns, e.g.
//
//	targets.payments.retry.max_attempts: must be at least 1
//
// Such errors are an [*Error] and match [ErrInvalidConfig]; a file that cannot
// be read at all matches [ErrConfigFile] instead. Error messages never repeat
// header values or URLs, which may hold secrets.
package config
