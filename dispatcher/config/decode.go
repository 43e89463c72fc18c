package config

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks a parsed YAML tree, decoding scalars into typed fields and
// collecting every problem with its key path. It does not stop at the first
// problem.
type decoder struct {
	lookupEnv func(string) (string, bool)
	errs      []FieldError
	// set holds the path of every key present in the file with a non-null
	// value, whether or not its value could be decoded.
	set map[string]bool
}

func newDecoder(lookupEnv func(string) (string, bool)) *decoder {
	return &decoder{lookupEnv: lookupEnv, set: map[string]bool{}}
}

func (d *decoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// field decodes the value of one known key; path is the key's path.
type field func(path string, value *yaml.Node)

// fields decodes the mapping at n, whose keys must all be in known. A null
// value counts as absent: its field is left alone. It reports whether n was
// a mapping (or null).
func (d *decoder) fields(path string, n *yaml.Node, known map[string]field) bool {
	return d.entries(path, n, func(key, keyPath string, value *yaml.Node) {
		f, ok := known[key]
		if !ok {
			d.fail(keyPath, "unknown key%s", suggest(key, known))
			return
		}
		if isNull(value) {
			return
		}
		d.set[keyPath] = true
		f(keyPath, value)
	})
}

// entries calls fn for each entry of the mapping at n in file order, after
// rejecting non-string, merge and duplicate keys. A null n has no entries.
// It reports whether n was a mapping (or null).
func (d *decoder) entries(path string, n *yaml.Node, fn func(key, keyPath string, value *yaml.Node)) bool {
	n = deref(n)
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, "must be a mapping, got %s", describe(n))
		return false
	}
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(path, "keys must be strings, got %s", describe(k))
			continue
		}
		keyPath := joinPath(path, k.Value)
		if k.Tag == "!!merge" {
			d.fail(keyPath, "merge keys are not supported")
			continue
		}
		if line, dup := firstLine[k.Value]; dup {
			d.fail(keyPath, "duplicate key (first defined on line %d)", line)
			continue
		}
		firstLine[k.Value] = k.Line
		fn(k.Value, keyPath, v)
	}
	return true
}

// list calls fn for each item of the sequence at n. It reports whether n
// was a sequence.
func (d *decoder) list(path string, n *yaml.Node, fn func(itemPath string, item *yaml.Node)) bool {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		d.fail(path, "must be a list, got %s", describe(n))
		return false
	}
	for i, item := range n.Content {
		fn(indexPath(path, i), item)
	}
	return true
}

// scalar returns the scalar at n with its environment references expanded.
// An expanded plain scalar without an explicit tag is typed anew by its
// value; a quoted one stays a string. want names the expected type for the
// error when n is not a scalar.
func (d *decoder) scalar(path string, n *yaml.Node, want string) (*yaml.Node, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "must be %s, got %s", want, describe(n))
		return nil, false
	}
	value, missing, err := expand(n.Value, d.lookupEnv)
	if err != nil {
		d.fail(path, "%v", err)
		return nil, false
	}
	for _, name := range missing {
		d.fail(path, "environment variable %s is not set", name)
	}
	if len(missing) > 0 {
		return nil, false
	}
	if value == n.Value {
		return n, true
	}
	c := *n
	c.Value = value
	const typed = yaml.TaggedStyle | yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
	if c.Style&typed == 0 {
		c.Tag = ""
	}
	return &c, true
}

// decodeScalar decodes the scalar at n into a T, using the YAML library's
// rules for T, after checking that the scalar's resolved tag is one of tags
// (when any are given): the library would silently truncate 1.5 to an int.
// want names T in errors, e.g. "an integer".
func decodeScalar[T any](d *decoder, path string, n *yaml.Node, want string, tags ...string) (T, bool) {
	var v T
	s, ok := d.scalar(path, n, want)
	if !ok {
		return v, false
	}
	tag := s.ShortTag()
	if tag == "!!null" || len(tags) > 0 && !slices.Contains(tags, tag) || s.Decode(&v) != nil {
		d.fail(path, "must be %s, got %q", want, s.Value)
		return v, false
	}
	return v, true
}

func (d *decoder) str(path string, n *yaml.Node, out *string) {
	if s, ok := d.scalar(path, n, "a string"); ok {
		*out = s.Value
	}
}

func (d *decoder) integer(path string, n *yaml.Node, out *int) {
	if v, ok := decodeScalar[int](d, path, n, "an integer", "!!int"); ok {
		*out = v
	}
}

func (d *decoder) boolean(path string, n *yaml.Node, out *bool) {
	if v, ok := decodeScalar[bool](d, path, n, "true or false", "!!bool"); ok {
		*out = v
	}
}

func (d *decoder) number(path string, n *yaml.Node, out *float64) {
	v, ok := decodeScalar[float64](d, path, n, "a number", "!!int", "!!float")
	if !ok {
		return
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		d.fail(path, "must be a finite number, got %q", deref(n).Value)
		return
	}
	*out = v
}

// duration decodes a Go duration such as "1m30s".
func (d *decoder) duration(path string, n *yaml.Node, out *time.Duration) {
	s, ok := d.scalar(path, n, "a duration")
	if !ok {
		return
	}
	v, err := time.ParseDuration(s.Value)
	if err != nil {
		d.fail(path, "invalid duration %q", s.Value)
		return
	}
	*out = v
}

// stringList decodes a list of strings. An item that cannot be decoded is
// left out, its problem reported.
func (d *decoder) stringList(path string, n *yaml.Node, out *[]string) {
	items := []string{}
	if d.list(path, n, func(p string, item *yaml.Node) {
		if isNull(item) {
			d.fail(p, "must be a string, got null")
			return
		}
		if s, ok := d.scalar(p, item, "a string"); ok {
			items = append(items, s.Value)
		}
	}) {
		*out = items
	}
}

// intList decodes a list of integers.
func (d *decoder) intList(path string, n *yaml.Node, out *[]int) {
	items := []int{}
	if d.list(path, n, func(p string, item *yaml.Node) {
		if v, ok := decodeScalar[int](d, p, item, "an integer", "!!int"); ok {
			items = append(items, v)
		}
	}) {
		*out = items
	}
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is absent or a YAML null.
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n is, for "got ..." in errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinPath appends key to a dotted key path, quoting keys that are not made
// of letters, digits, '_' and '-'.
func joinPath(path, key string) string {
	if !plainKey.MatchString(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// indexPath appends a list index to a key path: "endpoints[0]".
func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
