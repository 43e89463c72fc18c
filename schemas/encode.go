package schemas

import (
	"bytes"
	"encoding/json"
)

// Marshal encodes v as JSON the way every record and result is written:
// as encoding/json does, but without HTML escaping. The records are JSON
// for programs and terminals; escaping <, > and & as \u003c (6 bytes for
// 1) only made them bigger, up to six times a job's size. A page that shows
// a record must escape it itself.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// MarshalJSON encodes d as a dead-letter record. A nil History is written
// as an empty array, so "history" is always an array, as
// deadletter.v1.schema.json requires; every other field is written as its
// tag says. Like Marshal, it does not escape HTML.
func (d DeadLetter) MarshalJSON() ([]byte, error) {
	type record DeadLetter // the same fields, without this method
	r := record(d)
	if r.History == nil {
		r.History = []Attempt{}
	}
	return Marshal(r)
}
