package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishRetries is how many times a publish whose ack did not come is tried
// again. The job keeps its Nats-Msg-Id, so a retry of a job that was stored
// after all is dropped as a duplicate.
const publishRetries = 2

// pendingBuffer is how many published lines may wait for the goroutine that
// collects their acks; the async window bounds the un-acked ones.
const pendingBuffer = 1024

// NDJSONSettings tune PublishNDJSON. The zero value is ready to use.
type NDJSONSettings struct {
	// Target is the target of lines that name none; a line that names
	// another target is refused. Empty: every line must name its target.
	Target string
}

// LineResult is the outcome of one non-blank line of input.
type LineResult struct {
	// Line is the 1-based line number.
	Line int
	// JobID is the job's id, when the line had a readable one.
	JobID string
	// Ack is JetStream's ack; nil when the line was not published.
	Ack *Ack
	// Err is nil for a published line, else a *LineError.
	Err error
}

// NDJSONReport counts the lines of one input.
type NDJSONReport struct {
	// Lines is the number of non-blank lines read.
	Lines int `json:"lines"`
	// Published lines were acknowledged by JetStream, Duplicates included.
	Published int `json:"published"`
	// Duplicates were dropped by JetStream: a job with the same id was
	// stored inside its duplicate window.
	Duplicates int `json:"duplicates"`
	// Invalid lines are not valid jobs; they were not published.
	Invalid int `json:"invalid"`
	// Failed lines are valid jobs that JetStream did not acknowledge.
	Failed int `json:"failed"`
}

// pendingJob is a line published asynchronously, awaiting its ack.
type pendingJob struct {
	line int
	id   string
	m    *nats.Msg
	fut  jetstream.PubAckFuture
}

// PublishNDJSON publishes the jobs of r, one JSON job per line (blank lines
// are skipped), asynchronously with at most the async window of publishes
// awaiting their ack. Each line is checked against the job schema first; a
// bad line is reported and skipped and the good lines are still published.
//
// each, when not nil, is called once for every non-blank line, never
// concurrently, in the order the outcomes become known. Bad and failed
// lines are counted in the report, not returned as an error; the error is
// about the whole run: reading r failed or ctx ended.
func (p *Publisher) PublishNDJSON(ctx context.Context, r io.Reader, set NDJSONSettings, each func(LineResult)) (NDJSONReport, error) {
	var (
		rep NDJSONReport
		mu  sync.Mutex
	)
	emit := func(res LineResult) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case res.Err == nil:
			rep.Published++
			if res.Ack.Duplicate {
				rep.Duplicates++
			}
		case errors.Is(res.Err, ErrNotPublished) || errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, context.DeadlineExceeded):
			rep.Failed++
		default:
			rep.Invalid++
		}
		if each != nil {
			each(res)
		}
	}

	pending := make(chan pendingJob, pendingBuffer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for pj := range pending {
			emit(p.await(ctx, pj))
		}
	}()

	limit := int(p.nc.MaxPayload()) - headerRoom
	br := bufio.NewReaderSize(r, 64<<10)
	var readErr error
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		line, size, err := readLine(br, limit)
		if err != nil && !errors.Is(err, io.EOF) {
			readErr = fmt.Errorf("read line %d: %w", n, err)
			break
		}
		line = bytes.TrimSpace(line)
		switch {
		case size > limit:
			rep.Lines++
			emit(LineResult{Line: n, Err: &LineError{Line: n, Err: fmt.Errorf("%w: %d bytes, over the server's max payload of %d", ErrTooLarge, size, p.nc.MaxPayload())}})
		case len(line) > 0:
			rep.Lines++
			p.publishLine(ctx, n, line, set.Target, pending, emit)
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	close(pending)
	<-done
	return rep, readErr
}

// publishLine validates one line and publishes it asynchronously.
func (p *Publisher) publishLine(ctx context.Context, n int, line []byte, target string, pending chan<- pendingJob, emit func(LineResult)) {
	m, id, err := p.message(target, line)
	if err != nil {
		emit(LineResult{Line: n, JobID: id, Err: &LineError{Line: n, Err: err}})
		return
	}
	fut, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(p.ackTO))
	if err != nil {
		// Not sent (a stall or a connection problem): try synchronously.
		ack, err := p.retry(ctx, m, id)
		emit(lineResult(n, id, ack, err))
		return
	}
	pending <- pendingJob{line: n, id: id, m: m, fut: fut}
}

// await waits for the ack of an asynchronous publish, retrying it when it
// does not come.
func (p *Publisher) await(ctx context.Context, pj pendingJob) LineResult {
	select {
	case pa := <-pj.fut.Ok():
		return LineResult{Line: pj.line, JobID: pj.id, Ack: ackOf(pj.id, pj.m.Subject, pa)}
	case <-pj.fut.Err():
		ack, err := p.retry(ctx, pj.m, pj.id)
		return lineResult(pj.line, pj.id, ack, err)
	case <-ctx.Done():
		return lineResult(pj.line, pj.id, nil, fmt.Errorf("%w: %s: %w (it may or may not be stored)", ErrNotPublished, pj.id, ctx.Err()))
	}
}

// retry publishes m synchronously, up to 1+publishRetries times.
func (p *Publisher) retry(ctx context.Context, m *nats.Msg, id string) (*Ack, error) {
	var err error
	for range 1 + publishRetries {
		var ack *Ack
		if ack, err = p.publishSync(ctx, m, id); err == nil || ctx.Err() != nil || errors.Is(err, ErrNoStream) {
			return ack, err
		}
	}
	return nil, err
}

func lineResult(n int, id string, ack *Ack, err error) LineResult {
	if err != nil {
		return LineResult{Line: n, JobID: id, Err: &LineError{Line: n, Err: err}}
	}
	return LineResult{Line: n, JobID: id, Ack: ack}
}

// readLine reads one line (without its newline) of at most limit bytes. A
// longer line is consumed whole; its length is returned with a nil line.
// The error is io.EOF at the end of the input.
func readLine(br *bufio.Reader, limit int) (line []byte, size int, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		size += len(chunk)
		if size <= limit+1 { // +1: the newline
			line = append(line, chunk...)
		} else {
			line = nil
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return line, size, err
		}
		if line == nil {
			return nil, size - 1, nil
		}
		return line[:len(line)-1], size - 1, nil
	}
}
