package client_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetdispatch/dispatcher/dispatcher/client"
	"github.com/jetdispatch/dispatcher/schemas"
)

func Example() {
	url, stop := exampleServer() // a NATS server with the dispatcher's streams
	defer stop()

	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	pub, err := client.New(nc, client.WithSubjectPrefix("dispatch"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// One job: checked against the job schema, sent with Nats-Msg-Id
	// "ord-1001", acknowledged by JetStream.
	ack, err := pub.Publish(ctx, &schemas.Job{ID: "ord-1001", Target: "payments",
		Path: "/v1/charges", Body: []byte(`{"amount":100}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ack.JobID, ack.Subject, ack.Sequence, ack.Duplicate)

	// The same id again inside the duplicate window: stored once.
	ack, _ = pub.PublishJSON(ctx, "payments", []byte(`{"id":"ord-1001","path":"/v1/charges"}`))
	fmt.Println(ack.JobID, "duplicate:", ack.Duplicate)

	// Many jobs, one per line; bad lines are reported, good ones published.
	input := strings.NewReader(`{"id":"ord-1002","body":{"amount":5}}
{"id":"ord-1003","colour":"red"}
{"id":"ord-1004","target":"payments"}
`)
	rep, err := pub.PublishNDJSON(ctx, input, client.NDJSONSettings{Target: "payments"}, func(r client.LineResult) {
		if r.Err != nil {
			fmt.Println(r.Err)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d lines: %d published, %d invalid\n", rep.Lines, rep.Published, rep.Invalid)
	// Output:
	// ord-1001 dispatch.jobs.payments 1 false
	// ord-1001 duplicate: true
	// line 2: invalid job: unknown field "colour"
	// 3 lines: 2 published, 1 invalid
}

// exampleServer starts a JetStream server with the jobs stream.
func exampleServer() (string, func()) {
	url, stop, err := startServer()
	if err != nil {
		log.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	if err := createJobsStream(context.Background(), js); err != nil {
		log.Fatal(err)
	}
	return url, stop
}
