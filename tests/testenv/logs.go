package testenv

import (
	"bytes"
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
