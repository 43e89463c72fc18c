package deadletter

import (
	"encoding/json"
	"fmt"

	"github.com/jetdispatch/dispatcher/schemas"
)

// Values of the Dispatch-Truncated header: what a dead letter lost to fit
// the server's max payload.
const (
	TruncatedHistory = "history"
	TruncatedRaw     = "raw"
	TruncatedJobBody = "job-body"
)

// headroom is kept under the server's max payload for the record's headers.
const headroom = 4096

// fitDeadLetter returns rec encoded in at most limit bytes (0: no limit). A
// record over the limit would be refused by the server forever and its job
// could never be acked, so the bulky parts are cut, and the cut is said in
// the record's error: first the history down to the last attempt, then the
// raw bytes of an undecodable job, then the body of a decoded one.
func fitDeadLetter(rec *schemas.DeadLetter, limit int) ([]byte, string, error) {
	data, err := json.Marshal(rec)
	if err != nil || limit <= 0 || len(data) <= limit-headroom {
		return data, "", err
	}
	c := *rec
	if n := len(c.History); n > 1 {
		c.History = c.History[n-1:]
	}
	budget := limit - headroom
	if data, err = json.Marshal(&c); err != nil || len(data) <= budget {
		return data, TruncatedHistory, err
	}
	if len(c.Raw) > 0 {
		over := len(data) - budget
		keep := len(c.Raw) - (over*3/4 + 256)
		keep = max(keep, 0)
		c.Error += fmt.Sprintf(" [raw cut to %d of %d bytes to fit the NATS max payload]", keep, len(c.Raw))
		c.Raw = c.Raw[:keep]
		if data, err = json.Marshal(&c); err != nil || len(data) <= budget {
			return data, TruncatedRaw, err
		}
	}
	if len(c.Job) > 0 {
		var job map[string]json.RawMessage
		if json.Unmarshal(c.Job, &job) == nil {
			n := len(job["body"]) + len(job["body_base64"])
			delete(job, "body")
			delete(job, "body_base64")
			c.Job, _ = json.Marshal(job)
			c.Error += fmt.Sprintf(" [job body (%d bytes) dropped to fit the NATS max payload]", n)
		}
		if data, err = json.Marshal(&c); err != nil || len(data) <= budget {
			return data, TruncatedJobBody, err
		}
	}
	return nil, "", fmt.Errorf("dead letter of %d bytes cannot be cut under the max payload %d", len(data), limit)
}
