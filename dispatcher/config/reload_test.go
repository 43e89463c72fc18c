package config

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// leaves walks every keyed field of the Config struct (descending into
// structs of keyed fields) and calls fn with its key and value.
func leaves(path string, v reflect.Value, fn func(key string, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("key")
		if path != "" {
			key = path + "." + key
		}
		if keyedStruct(t.Field(i).Type) {
			leaves(key, v.Field(i), fn)
			continue
		}
		fn(key, v.Field(i))
	}
}

// TestEveryFieldHasAKey: a Config field without a key tag would be
// invisible to RestartKeys (and to a reload's log).
func TestEveryFieldHasAKey(t *testing.T) {
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Tag.Get("key") == "" {
				t.Errorf("config field %s%s has no key tag", path, f.Name)
				continue
			}
			if f.Type.Kind() == reflect.Struct && (path != "" || !slices.Contains(Reloadable, f.Tag.Get("key"))) && f.Type.PkgPath() == typ.PkgPath() {
				walk(path+f.Name+".", f.Type)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
}

// TestReloadCannotDrift changes every leaf of the config, one at a time:
// each change is either applied by a reload (security.*, targets.*,
// http.token) or
// reported by RestartKeys under its own key, never silently ignored.
func TestReloadCannotDrift(t *testing.T) {
	base := defaultConfig()
	n := 0
	leaves("", reflect.ValueOf(&base).Elem(), func(key string, _ reflect.Value) {
		n++
		changed := defaultConfig()
		var field reflect.Value
		leaves("", reflect.ValueOf(&changed).Elem(), func(k string, v reflect.Value) {
			if k == key {
				field = v
			}
		})
		switch field.Kind() {
		case reflect.String:
			field.SetString(field.String() + "x")
		case reflect.Bool:
			field.SetBool(!field.Bool())
		case reflect.Int, reflect.Int64:
			if field.Type() == reflect.TypeFor[time.Duration]() {
				field.SetInt(field.Int() + int64(time.Second))
			} else {
				field.SetInt(field.Int() + 1)
			}
		case reflect.Map:
			field.Set(reflect.MakeMap(field.Type()))
			field.SetMapIndex(reflect.ValueOf("new"), reflect.New(field.Type().Elem()).Elem())
		case reflect.Struct:
			// security: a whole worker.Security; change its first field.
			f0 := field.Field(0)
			f0.SetBool(!f0.Bool())
		default:
			t.Fatalf("%s: kind %s not covered by this test", key, field.Kind())
		}
		got := RestartKeys(&base, &changed)
		switch {
		case IsReloadable(key):
			if len(got) != 0 {
				t.Errorf("%s is applied by reload, but RestartKeys reports %q", key, got)
			}
		case !slices.Equal(got, []string{key}):
			t.Errorf("changing %s: RestartKeys = %q, want [%s]", key, got, key)
		}
	})
	if n < 20 {
		t.Fatalf("walked %d keys; the walk is broken", n)
	}
}

// The keys of issue 13's item 10: the HTTP token is applied by a reload,
// the embedded server's token needs a restart.
func TestReloadTokens(t *testing.T) {
	base := defaultConfig()
	changed := defaultConfig()
	changed.HTTP.Token = "0123456789abcdef"
	if got := RestartKeys(&base, &changed); len(got) != 0 {
		t.Errorf("http.token changed: RestartKeys = %q, want none (a reload applies it)", got)
	}
	changed = defaultConfig()
	changed.NATS.Embedded.Token = "0123456789abcdef"
	if got := RestartKeys(&base, &changed); !slices.Equal(got, []string{"nats.embedded.token"}) {
		t.Errorf("nats.embedded.token changed: RestartKeys = %q, want [nats.embedded.token]", got)
	}
	changed = defaultConfig()
	changed.HTTP.Listen = "127.0.0.1:1"
	if got := RestartKeys(&base, &changed); !slices.Equal(got, []string{"http.listen"}) {
		t.Errorf("http.listen changed: RestartKeys = %q, want [http.listen]", got)
	}
}
