package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher/client"
	"github.com/jetdispatch/dispatcher/schemas"
)

func TestOptionsValidate(t *testing.T) {
	nc, _ := broker(t)
	tests := []struct {
		name string
		opt  client.Option
		ok   bool
	}{
		{"prefix", client.WithSubjectPrefix("acme.dispatch"), true},
		{"prefix with wildcard", client.WithSubjectPrefix("acme.*"), false},
		{"empty prefix", client.WithSubjectPrefix(""), false},
		{"prefix with empty token", client.WithSubjectPrefix("a..b"), false},
		{"window", client.WithAsyncWindow(10), true},
		{"zero window", client.WithAsyncWindow(0), false},
		{"ack timeout", client.WithAckTimeout(time.Second), true},
		{"negative ack timeout", client.WithAckTimeout(-time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(nc, tt.opt)
			if tt.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tt.ok && !errors.Is(err, client.ErrInvalidOption) {
				t.Fatalf("New: error %v, want ErrInvalidOption", err)
			}
		})
	}
	if _, err := client.New(nil); !errors.Is(err, client.ErrInvalidOption) {
		t.Errorf("New(nil): %v, want ErrInvalidOption", err)
	}
}

func TestPublishJSON(t *testing.T) {
	nc, js := broker(t)
	pub, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	big := `{"id":"big","body":"` + strings.Repeat("x", int(nc.MaxPayload())) + `"}`
	tests := []struct {
		name, target, data string
		wantErr            error
		wantSubject        string
	}{
		{"target in job", "", `{"id":"a1","target":"pay"}`, nil, "dispatch.jobs.pay"},
		{"target given", "pay", `{"id":"a2"}`, nil, "dispatch.jobs.pay"},
		{"both agree", "pay", `{"id":"a3","target":"pay"}`, nil, "dispatch.jobs.pay"},
		{"no target", "", `{"id":"a4"}`, client.ErrNoTarget, ""},
		{"mismatch", "pay", `{"id":"a5","target":"ship"}`, client.ErrTargetMismatch, ""},
		{"bad target", "pay.x", `{"id":"a6"}`, client.ErrInvalidOption, ""},
		{"unknown field", "pay", `{"id":"a7","colour":"red"}`, schemas.ErrInvalidJob, ""},
		{"not json", "pay", `{"id":`, schemas.ErrInvalidJob, ""},
		{"bad path", "pay", `{"id":"a8","path":"v1"}`, schemas.ErrInvalidJob, ""},
		{"too large", "pay", big, client.ErrTooLarge, ""},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ack, err := pub.PublishJSON(ctx, tt.target, []byte(tt.data))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ack.Subject != tt.wantSubject || ack.Stream != "DISPATCH_JOBS" || ack.Sequence == 0 || ack.Duplicate {
				t.Fatalf("ack %+v", ack)
			}
			st, err := js.Stream(ctx, "DISPATCH_JOBS")
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.GetMsg(ctx, ack.Sequence)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Header.Get(jetstream.MsgIDHeader); got != ack.JobID {
				t.Errorf("Nats-Msg-Id %q, want %q", got, ack.JobID)
			}
			if string(m.Data) != tt.data {
				t.Errorf("stored %s, want the job unchanged %s", m.Data, tt.data)
			}
		})
	}
}

func TestPublishDuplicate(t *testing.T) {
	nc, _ := broker(t)
	pub, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	job := &schemas.Job{ID: "dup-1", Target: "pay", Method: "PUT", Path: "/x"}
	first, err := pub.Publish(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	second, err := pub.Publish(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !second.Duplicate || second.Sequence != first.Sequence {
		t.Errorf("first %+v, second %+v: want the second to be a duplicate of the first", first, second)
	}
}

func TestReady(t *testing.T) {
	nc, _ := broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, _ := client.New(nc)
	if err := pub.Ready(ctx); err != nil {
		t.Errorf("Ready with the jobs stream: %v", err)
	}
	other, _ := client.New(nc, client.WithSubjectPrefix("other"))
	if err := other.Ready(ctx); !errors.Is(err, client.ErrNoStream) {
		t.Errorf("Ready without a stream: %v, want ErrNoStream", err)
	}
}
