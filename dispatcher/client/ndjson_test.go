package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetdispatch/dispatcher/dispatcher/client"
	"github.com/jetdispatch/dispatcher/schemas"
)

func TestPublishNDJSON(t *testing.T) {
	nc, js := broker(t)
	pub, err := client.New(nc, client.WithAsyncWindow(8))
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	bad := map[int]error{
		3:  schemas.ErrInvalidJob,    // not JSON
		5:  schemas.ErrInvalidJob,    // unknown field
		8:  client.ErrTargetMismatch, // other target
		12: client.ErrTooLarge,       // over max payload
		20: schemas.ErrInvalidJob,    // missing id
	}
	good := 0
	for n := 1; n <= 40; n++ {
		switch n {
		case 3:
			in.WriteString(`{"id":"x3",` + "\n")
		case 5:
			in.WriteString(`{"id":"x5","colour":1}` + "\n")
		case 8:
			in.WriteString(`{"id":"x8","target":"ship"}` + "\n")
		case 10:
			in.WriteString("   \n") // blank: skipped, still counted as a line number
		case 12:
			in.WriteString(`{"id":"x12","body":"` + strings.Repeat("y", int(nc.MaxPayload())+10) + `"}` + "\n")
		case 20:
			in.WriteString(`{"path":"/x"}` + "\r\n")
		case 40:
			fmt.Fprintf(&in, `{"id":"x%d","target":"pay"}`, n) // no final newline
			good++
		default:
			fmt.Fprintf(&in, `{"id":"x%d","path":"/p/%d"}`+"\r\n", n, n)
			good++
		}
	}
	var mu sync.Mutex
	seen := map[int]client.LineResult{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := pub.PublishNDJSON(ctx, strings.NewReader(in.String()), client.NDJSONSettings{Target: "pay"}, func(r client.LineResult) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := seen[r.Line]; dup {
			t.Errorf("line %d reported twice", r.Line)
		}
		seen[r.Line] = r
	})
	if err != nil {
		t.Fatal(err)
	}
	want := client.NDJSONReport{Lines: 39, Published: good, Invalid: len(bad)}
	if rep != want {
		t.Errorf("report %+v, want %+v", rep, want)
	}
	for n, wantErr := range bad {
		r, ok := seen[n]
		var le *client.LineError
		switch {
		case !ok:
			t.Errorf("line %d not reported", n)
		case !errors.As(r.Err, &le) || le.Line != n:
			t.Errorf("line %d: error %v, want a *LineError for line %d", n, r.Err, n)
		case !errors.Is(r.Err, wantErr):
			t.Errorf("line %d: error %v, want %v", n, r.Err, wantErr)
		case !strings.HasPrefix(r.Err.Error(), fmt.Sprintf("line %d: ", n)):
			t.Errorf("line %d: message %q does not start with the line number", n, r.Err)
		}
	}
	if _, ok := seen[10]; ok {
		t.Errorf("blank line 10 was reported")
	}
	st, err := js.Stream(ctx, "DISPATCH_JOBS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(good) {
		t.Errorf("stream holds %d jobs, want %d", info.State.Msgs, good)
	}

	// The same input again: every good line is a duplicate.
	rep, err = pub.PublishNDJSON(ctx, strings.NewReader(in.String()), client.NDJSONSettings{Target: "pay"}, nil)
	if err != nil || rep.Duplicates != good || rep.Published != good {
		t.Errorf("second run: %+v, %v; want %d duplicates", rep, err, good)
	}
}

func TestPublishNDJSONNoStream(t *testing.T) {
	nc, _ := broker(t)
	pub, err := client.New(nc, client.WithSubjectPrefix("nostream"), client.WithAckTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := pub.PublishNDJSON(ctx, strings.NewReader(`{"id":"a","target":"t"}`+"\n"+`{"id":"b","target":"t"}`), client.NDJSONSettings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 2 || rep.Published != 0 {
		t.Errorf("report %+v, want 2 failed", rep)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestPublishNDJSONReadError(t *testing.T) {
	nc, _ := broker(t)
	pub, _ := client.New(nc)
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(`{"id":"a","target":"t"}`+"\n"), errReader{boom})
	rep, err := pub.PublishNDJSON(context.Background(), r, client.NDJSONSettings{}, nil)
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want the read error", err)
	}
	if rep.Published != 1 {
		t.Errorf("report %+v, want the line before the error published", rep)
	}
}

// BenchmarkPublishNDJSON measures jobs/s of NDJSON publishing into a local
// server (file storage, WorkQueue, like the service's jobs stream).
func BenchmarkPublishNDJSON(b *testing.B) {
	nc, _ := broker(b)
	pub, _ := client.New(nc)
	var in strings.Builder
	for i := range b.N {
		fmt.Fprintf(&in, `{"id":"bench-%d","target":"pay","path":"/v1/charges","body":{"amount":%d,"currency":"EUR"}}`+"\n", i, i)
	}
	b.ResetTimer()
	rep, err := pub.PublishNDJSON(context.Background(), strings.NewReader(in.String()), client.NDJSONSettings{}, nil)
	if err != nil || rep.Published != b.N {
		b.Fatalf("%+v %v", rep, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
