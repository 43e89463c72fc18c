package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFitDeadLetter cuts records in the contract's order, only as far as
// needed, marks what was cut, and leaves a record that validates.
func TestFitDeadLetter(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	hist := make([]Attempt, 10)
	for i := range hist {
		hist[i] = Attempt{Attempt: i + 1, At: at, Endpoint: "http://h", Status: 503, ErrorClass: ClassHTTP5xx, Error: strings.Repeat("e", 500)}
	}
	str := func(n int, c string) string { return `"` + strings.Repeat(c, n) + `"` }
	job := func(members ...string) json.RawMessage {
		return json.RawMessage(`{"id":"j1","path":"/x"` + strings.Join(members, "") + `}`)
	}
	base := func() DeadLetter {
		return DeadLetter{Target: "pay", Reason: ReasonNonRetryable, ErrorClass: ClassHTTP4xx, Error: "400 Bad Request",
			LastStatus: 400, Attempts: 10, DeadAt: at, ServiceName: "dispatcher", Instance: "h/1", History: hist}
	}
	raw := bytes.Repeat([]byte("not json "), 30_000) // 270,000 bytes: 360,000 in base64
	cases := []struct {
		name  string
		rec   func(*DeadLetter)
		limit int
		want  []string
		check func(t *testing.T, got *DeadLetter, data []byte)
	}{
		{"fits: untouched", func(d *DeadLetter) { d.Job = job(`,"meta":` + str(100_000, "m")) }, 1 << 20, nil,
			func(t *testing.T, got *DeadLetter, _ []byte) {
				if len(got.History) != 10 || len(got.JobMeta()) != 100_002 {
					t.Errorf("history %d, meta %d bytes: want both kept", len(got.History), len(got.JobMeta()))
				}
			}},
		{"meta alone is enough", func(d *DeadLetter) {
			d.Job = job(`,"meta":`+str(300_000, "m"), `,"headers":{"X-A":`+str(10_000, "h")+`}`, `,"body":`+str(100_000, "b"))
		}, 200_000, []string{CutMeta}, func(t *testing.T, got *DeadLetter, _ []byte) {
			if got.JobMeta() != nil || !strings.Contains(string(got.Job), `"body"`) || !strings.Contains(string(got.Job), `"headers"`) {
				t.Errorf("job %.80s…: want meta dropped, headers and body kept", got.Job)
			}
		}},
		{"meta, headers, body", func(d *DeadLetter) {
			d.Job = job(`,"meta":`+str(100_000, "m"), `,"headers":{"X-A":`+str(100_000, "h")+`}`, `,"body":`+str(100_000, "b"))
		}, 50_000, []string{CutMeta, CutHeaders, CutBody}, func(t *testing.T, got *DeadLetter, _ []byte) {
			if string(got.Job) != `{"id":"j1","path":"/x"}` || len(got.History) != 10 {
				t.Errorf("job %s, history %d: want id and path left, history kept", got.Job, len(got.History))
			}
		}},
		{"legacy top-level meta counts as meta", func(d *DeadLetter) { d.Job = job(); d.Meta = json.RawMessage(str(300_000, "m")) },
			200_000, []string{CutMeta}, func(*testing.T, *DeadLetter, []byte) {}},
		{"raw: a prefix, cut no more than needed", func(d *DeadLetter) { d.Job = json.RawMessage("null"); d.Raw = raw }, 300_000, []string{CutRaw},
			func(t *testing.T, got *DeadLetter, data []byte) {
				if len(got.Raw) == 0 || !bytes.Equal(got.Raw, raw[:len(got.Raw)]) {
					t.Errorf("raw %d bytes, want a prefix of the original", len(got.Raw))
				}
				if len(data) < 300_000-8 || len(got.History) != 10 {
					t.Errorf("record %d bytes, history %d: cut more than needed", len(data), len(got.History))
				}
			}},
		{"history, then the error", func(d *DeadLetter) {
			d.Job = json.RawMessage(`{"id":"j1"}`)
			d.Error = "invalid job: unknown field " + str(20_000, "k")
		}, 4_000, []string{CutHistory, CutError}, func(t *testing.T, got *DeadLetter, _ []byte) {
			if len(got.History) != 1 || got.History[0].Attempt != 10 || !strings.HasPrefix(got.Error, "invalid job: unknown field") {
				t.Errorf("history %v, error %.40q: want the last attempt and the start of the error", got.History, got.Error)
			}
		}},
		{"an invalid object's other members: job keeps its id", func(d *DeadLetter) {
			d.Job = json.RawMessage(`{"id":"p-1","target":"pay","colour":` + str(300_000, "c") + `}`)
			d.History = nil
		}, 100_000, []string{CutJob}, func(t *testing.T, got *DeadLetter, _ []byte) {
			if string(got.Job) != `{"id":"p-1","target":"pay"}` || got.Error != "400 Bad Request" {
				t.Errorf("job %s, error %q: want id and target, error whole", got.Job, got.Error)
			}
		}},
		{"no HTML escaping", func(d *DeadLetter) { d.Job = job(`,"body":` + str(90_000, "<")) }, 120_000, nil,
			func(t *testing.T, _ *DeadLetter, data []byte) {
				if bytes.Contains(data, []byte(`\u003c`)) || len(data) > 100_000 {
					t.Errorf("record of %d bytes, escaped: %v", len(data), bytes.Contains(data, []byte(`\u003c`)))
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := base()
			c.rec(&rec)
			before, _ := json.Marshal(rec)
			data, cut, err := FitDeadLetter(&rec, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > c.limit {
				t.Fatalf("record is %d bytes, over %d", len(data), c.limit)
			}
			if !slices.Equal(cut, c.want) {
				t.Errorf("cut %q, want %q", cut, c.want)
			}
			if err := Validate(DeadLetterSchema, data); err != nil {
				t.Fatal(err)
			}
			var got DeadLetter
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Truncated, c.want) {
				t.Errorf("truncated field %q, want %q", got.Truncated, c.want)
			}
			if after, _ := json.Marshal(rec); !bytes.Equal(before, after) {
				t.Error("FitDeadLetter changed its argument")
			}
			c.check(t, &got, data)
		})
	}
	t.Run("too large at its minimum", func(t *testing.T) {
		rec := base()
		_, _, err := FitDeadLetter(&rec, 200)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v, want ErrTooLarge", err)
		}
	})
}

// TestFitResult cuts a result's meta, then the end of its body.
func TestFitResult(t *testing.T) {
	body := strings.Repeat(`<p class="x">é</p>`+"\n", 200_000) // 3.8 MB, with escapes: cut just as far as needed
	for _, c := range []struct {
		name  string
		meta  string
		limit int
		want  []string
	}{
		{"body", "", 1 << 20, []string{CutBody}},
		{"meta then body", `{"k":"` + strings.Repeat("m", 500_000) + `"}`, 1 << 20, []string{CutMeta, CutBody}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &Result{JobID: "j1", Target: "pay", Outcome: OutcomeDelivered, Status: 200, Attempts: 1, Body: body,
				TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
			if c.meta != "" {
				r.Meta = json.RawMessage(c.meta)
			}
			data, cut, err := FitResult(r, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > c.limit || len(data) < c.limit-16 {
				t.Errorf("result %d bytes, want just under %d", len(data), c.limit)
			}
			if !slices.Equal(cut, c.want) {
				t.Errorf("cut %q, want %q", cut, c.want)
			}
			if err := Validate(ResultSchema, data); err != nil {
				t.Fatal(err)
			}
			var got Result
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(body, got.Body) || got.Body == "" || !slices.Equal(got.Truncated, c.want) || r.Body != body {
				t.Errorf("body %d bytes (a prefix: %v), truncated %q", len(got.Body), strings.HasPrefix(body, got.Body), got.Truncated)
			}
		})
	}
}

// TestFitFallback: a fallback record loses its job's meta first.
func TestFitFallback(t *testing.T) {
	rec := &Fallback{Job: json.RawMessage(`{"id":"j1","meta":"` + strings.Repeat("m", 300_000) + `","body":{"a":1}}`),
		Target: "pay", Reason: ReasonCircuitOpen, Endpoint: "http://h", BreakerState: "open",
		At: time.Now().UTC(), ServiceName: "dispatcher", Instance: "h/1"}
	data, cut, err := FitFallback(rec, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cut, []string{CutMeta}) || bytes.Contains(data, []byte("mmm")) || !bytes.Contains(data, []byte(`"body":{"a":1}`)) {
		t.Errorf("cut %q, record %s", cut, data)
	}
	if err := Validate(FallbackSchema, data); err != nil {
		t.Fatal(err)
	}
}

func TestMaxJobBytes(t *testing.T) {
	for _, c := range []struct {
		configured int
		payload    int64
		want       int
	}{
		{1 << 20, 1 << 20, 1<<20 - JobHeaderRoom},
		{64 << 10, 1 << 20, 64 << 10},
		{8 << 20, 8 << 20, 8<<20 - JobHeaderRoom},
		{1 << 20, 0, 1 << 20}, // unknown max payload
	} {
		if got := MaxJobBytes(c.configured, c.payload); got != c.want {
			t.Errorf("MaxJobBytes(%d, %d) = %d, want %d", c.configured, c.payload, got, c.want)
		}
	}
	if got := HeaderSize(map[string][]string{"A": {"b"}}); got != len("NATS/1.0\r\nA: b\r\n\r\n") {
		t.Errorf("HeaderSize = %d", got)
	}
}

// TestJobMeta reads meta from the job, and from the top level of an older
// record.
func TestJobMeta(t *testing.T) {
	for _, c := range []struct {
		job, meta, want string
	}{
		{`{"id":"a","meta":{"o":1}}`, ``, `{"o":1}`},
		{`{"id":"a"}`, `{"o":2}`, `{"o":2}`},
		{`null`, ``, ``},
		{`{"id":"a","meta":null}`, `null`, ``},
	} {
		d := DeadLetter{Job: json.RawMessage(c.job)}
		if c.meta != "" {
			d.Meta = json.RawMessage(c.meta)
		}
		if got := string(d.JobMeta()); got != c.want {
			t.Errorf("job %s meta %s: JobMeta %s, want %s", c.job, c.meta, got, c.want)
		}
	}
}

// TestJSONCharAgreesWithMarshal: the size cutText counts for a string is
// the size Marshal writes, escapes and invalid UTF-8 included.
func TestJSONCharAgreesWithMarshal(t *testing.T) {
	for _, s := range []string{"plain", `q"uote\back`, "ctl\x00\x01\b\f\n\r\t\x1f\x7f", "<&>", "é€😀", "bad\xff\xfe utf8", "ls\u2028ps\u2029", ""} {
		n := 0
		for i := 0; i < len(s); {
			w, enc := jsonChar(s, i)
			n, i = n+enc, i+w
		}
		b, _ := Marshal(s)
		if n != len(b)-2 {
			t.Errorf("%q: counted %d, Marshal writes %d", s, n, len(b)-2)
		}
	}
}
