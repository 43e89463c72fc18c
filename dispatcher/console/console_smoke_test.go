package console

import "testing"

func TestParsePages(t *testing.T) {
	if _, err := parsePages(); err != nil {
		t.Fatal(err)
	}
}
