package config

import (
	"reflect"
	"slices"
	"strings"
)

// Reloadable are the keys a reload applies, each with every key below it:
// targets (added, changed, removed), security (every worker replaced) and
// http.token (the listener's token swapped). Every other key takes effect
// at the next start only.
var Reloadable = []string{"security", "targets", "http.token"}

// IsReloadable reports whether a reload applies key (a path in the file,
// e.g. "http.token", "targets.a.concurrency").
func IsReloadable(key string) bool {
	return slices.ContainsFunc(Reloadable, func(r string) bool { return key == r || strings.HasPrefix(key, r+".") })
}

// RestartKeys lists the keys whose values differ between old and cfg and
// that a reload does not apply: every key outside Reloadable, named by its
// path in the file (e.g. "nats.url", "fleet.heartbeat"). It is derived from
// the Config struct, so a key added to it is reported without more code.
func RestartKeys(old, cfg *Config) []string {
	var keys []string
	diffKeys("", reflect.ValueOf(*old), reflect.ValueOf(*cfg), &keys)
	return keys
}

// diffKeys appends the keys of the fields of struct values a and b that
// differ, descending into fields that are structs of keyed fields.
func diffKeys(path string, a, b reflect.Value, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("key")
		if key == "" {
			continue // TestEveryFieldHasAKey keeps this from happening
		}
		if path != "" {
			key = path + "." + key
		}
		if IsReloadable(key) {
			continue
		}
		fa, fb := a.Field(i), b.Field(i)
		if keyedStruct(f.Type) {
			diffKeys(key, fa, fb, out)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			*out = append(*out, key)
		}
	}
}

// keyedStruct reports whether t is a struct whose fields carry keys.
func keyedStruct(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.NumField() > 0 && t.Field(0).Tag.Get("key") != ""
}
