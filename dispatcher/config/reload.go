package config

import (
	"reflect"
	"slices"
)

// Reloadable are the top-level keys a reload applies: targets (added,
// changed, removed) and security (every worker replaced). Every other key
// takes effect at the next start only.
var Reloadable = []string{"security", "targets"}

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
		} else if slices.Contains(Reloadable, key) {
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
