package testenv

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogBuffer is a goroutine-safe buffer a zap logger writes JSON lines to.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Sync does nothing: the buffer is memory.
func (b *LogBuffer) Sync() error { return nil }

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines logged.
func (b *LogBuffer) Tail(n int) string {
	return tail(b.String(), n)
}

// NewLogger returns a JSON zap logger at level writing to a new LogBuffer.
func NewLogger(level zapcore.Level) (*zap.Logger, *LogBuffer) {
	buf := &LogBuffer{}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(buf), level)), buf
}

// LogLine is one JSON log line, by field name.
type LogLine map[string]any

// Str returns field f when it is a string, else "".
func (l LogLine) Str(f string) string {
	s, _ := l[f].(string)
	return s
}

// Int returns field f when it is a number, else -1.
func (l LogLine) Int(f string) int {
	n, ok := l[f].(float64)
	if !ok {
		return -1
	}
	return int(n)
}

// Msg is the line's message.
func (l LogLine) Msg() string { return l.Str("msg") }

// ParseLogLines decodes the JSON lines of s, skipping any that is not a
// JSON object.
func ParseLogLines(s string) []LogLine {
	var out []LogLine
	for _, line := range strings.Split(s, "\n") {
		var l LogLine
		if json.Unmarshal([]byte(line), &l) == nil && l != nil {
			out = append(out, l)
		}
	}
	return out
}

// Lines returns what was logged so far, decoded.
func (b *LogBuffer) Lines() []LogLine { return ParseLogLines(b.String()) }
