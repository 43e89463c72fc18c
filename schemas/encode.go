package schemas

import "encoding/json"

// MarshalJSON encodes d as a dead-letter record. A nil History is written
// as an empty array, so "history" is always an array, as
// deadletter.v1.schema.json requires; every other field is written as its
// tag says.
func (d DeadLetter) MarshalJSON() ([]byte, error) {
	type record DeadLetter // the same fields, without this method
	r := record(d)
	if r.History == nil {
		r.History = []Attempt{}
	}
	return json.Marshal(r)
}
