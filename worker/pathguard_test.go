package worker

import "testing"

func TestEscapesBase(t *testing.T) {
	for path, want := range map[string]bool{
		"/":                     false,
		"/v1/charges?src=queue": false,
		"/a/../b":               false,
		"/a/./b/../c":           false,
		"/a/b/../../c":          false,
		"/..":                   true,
		"/../b":                 true,
		"/a/../../b":            true,
		"/%2e%2e/b":             true,
		"/%2E%2e/b":             true,
		"/a%2f..%2f..%2fb":      true,
		"/..%2fadmin":           true,
		"/a/%2e%2e%2f%2e%2e/b":  true,
		"/..\\admin":            true,
		"/%5c..%5cadmin":        true,  // decoded \..\admin: a backslash taken for a slash
		"/x?next=/../../etc":    false, // the query is not a path
		"/%zz/../..":            true,
		"/a..b/c":               false,
		"/...":                  false,
	} {
		if got := escapesBase(path); got != want {
			t.Errorf("escapesBase(%q) = %v, want %v", path, got, want)
		}
	}
}
