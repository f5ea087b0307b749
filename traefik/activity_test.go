package traefik

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/waitingroom/waitingroom/internal/testutil/logbuf"
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

// logBuffer collects log output safely across goroutines.
type logBuffer struct{ logbuf.Buffer }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (t touch) String() string { return fmt.Sprintf("%s(%s)", t.host, t.source) }
