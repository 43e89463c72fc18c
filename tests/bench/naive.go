package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// naiveMain is the pipeline a user would write without dispatcher: one
// durable pull consumer on every jobs subject, Consume feeding a fixed pool
// of workers, a keep-alive HTTP client, ack on 2xx and NakWithDelay(1s)
// otherwise, as often as it takes (no MaxDeliver). No breaker, no
// classification, no retry budget, no logs. It prints "ready" once it
// consumes, and stops on SIGTERM.
func naiveMain(args []string) int {
	fs := flag.NewFlagSet("naive", flag.ContinueOnError)
	natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server")
	endpoint := fs.String("endpoint", "", "base URL the job paths are appended to")
	workers := fs.Int("workers", 64, "worker goroutines")
	timeout := fs.Duration("timeout", 30*time.Second, "HTTP client timeout")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	nc, err := nats.Connect(*natsURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		return exitFailure
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		return exitFailure
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := js.CreateOrUpdateConsumer(cctx, "DISPATCH_JOBS", jetstream.ConsumerConfig{
		Durable: "naive",
		// No filter: every job of the stream, whichever subject the
		// stream's partition transform stored it under.
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 1000,
		MaxDeliver:    -1, // unlimited: a job is retried until it is delivered
	})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		return exitFailure
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = *workers
	client := &http.Client{Transport: tr, Timeout: *timeout}

	msgs := make(chan jetstream.Msg)
	for range *workers {
		go func() {
			for m := range msgs {
				handleNaive(client, *endpoint, m)
			}
		}()
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { msgs <- m })
	if err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		return exitFailure
	}
	fmt.Println("ready")
	<-ctx.Done()
	cc.Stop()
	return exitOK
}

func handleNaive(client *http.Client, endpoint string, m jetstream.Msg) {
	var job struct {
		ID   string          `json:"id"`
		Path string          `json:"path"`
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(m.Data(), &job); err != nil {
		_ = m.Term()
		return
	}
	req, err := http.NewRequest(http.MethodPost, endpoint+job.Path, bytes.NewReader(job.Body))
	if err != nil {
		_ = m.Term()
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", job.ID)
	resp, err := client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_ = m.Ack()
		return
	}
	_ = m.NakWithDelay(time.Second)
}
