package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// maxFallbackBody bounds the JSON of a fallback body, which also stops
// alias expansion from blowing it up.
const maxFallbackBody = 1 << 20

var errBodyTooLarge = errors.New("body too large")

// jsonBody converts the YAML value at n, with its environment references
// expanded, to JSON. Mapping keys keep their order. It returns nil for a null
// value and for a value it cannot convert, reporting why.
func (d *decoder) jsonBody(path string, n *yaml.Node) json.RawMessage {
	var buf bytes.Buffer
	before := len(d.errs)
	err := d.writeJSON(&buf, path, n)
	if errors.Is(err, errBodyTooLarge) || buf.Len() > maxFallbackBody {
		d.fail(path, "must be at most %d bytes as JSON", maxFallbackBody)
		return nil
	}
	if len(d.errs) > before || buf.String() == "null" {
		return nil
	}
	return json.RawMessage(buf.Bytes())
}

// writeJSON appends the JSON of n to buf. Problems in the value are
// reported to d; the returned error only says the output grew too large.
func (d *decoder) writeJSON(buf *bytes.Buffer, path string, n *yaml.Node) error {
	if buf.Len() > maxFallbackBody {
		return errBodyTooLarge
	}
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		buf.WriteByte('{')
		var err error
		first := true
		d.entries(path, n, func(key, keyPath string, v *yaml.Node) {
			if err != nil {
				return
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			writeJSONString(buf, key)
			buf.WriteByte(':')
			err = d.writeJSON(buf, keyPath, v)
		})
		buf.WriteByte('}')
		return err
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := d.writeJSON(buf, indexPath(path, i), item); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		d.writeJSONScalar(buf, path, n)
		return nil
	}
	buf.WriteString("null")
	return nil
}

func (d *decoder) writeJSONScalar(buf *bytes.Buffer, path string, n *yaml.Node) {
	s, ok := d.scalar(path, n, "a value")
	if !ok {
		return
	}
	switch tag := s.ShortTag(); tag {
	case "!!null":
		buf.WriteString("null")
	case "!!str", "!!timestamp":
		writeJSONString(buf, s.Value)
	case "!!bool":
		var b bool
		if s.Decode(&b) != nil {
			d.fail(path, "invalid boolean %q", s.Value)
			return
		}
		buf.WriteString(strconv.FormatBool(b))
	case "!!int", "!!float":
		var v any
		if s.Decode(&v) != nil {
			d.fail(path, "invalid number %q", s.Value)
			return
		}
		if f, isFloat := v.(float64); isFloat && (math.IsNaN(f) || math.IsInf(f, 0)) {
			d.fail(path, "must be a finite number to be JSON, got %q", s.Value)
			return
		}
		out, err := json.Marshal(v)
		if err != nil {
			d.fail(path, "invalid number %q", s.Value)
			return
		}
		buf.Write(out)
	default:
		d.fail(path, "unsupported YAML tag %s", tag)
	}
}

// writeJSONString appends s as a JSON string, without escaping HTML.
func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.Truncate(buf.Len() - 1)
}
