package traefik

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// touch is one recorded Touch call.
type touch struct{ host, source string }

// recorder is a Toucher that remembers calls; block, when set, holds every
// call until it is closed (a store that hangs).
type recorder struct {
	mu      sync.Mutex
	touches []touch
	block   chan struct{}
}

func (r *recorder) Touch(ctx context.Context, host, source string) error {
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.touches = append(r.touches, touch{host, source})
	return nil
}

func (r *recorder) all() []touch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.touches)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.touches = nil
}

// hosts returns the touched hosts in call order.
func (r *recorder) hosts() []string {
	var out []string
	for _, t := range r.all() {
		out = append(out, t.host)
	}
	return out
}

// waitFor polls cond every few milliseconds and fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeClock is a controller.Clock moved by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (t touch) String() string { return fmt.Sprintf("%s(%s)", t.host, t.source) }
