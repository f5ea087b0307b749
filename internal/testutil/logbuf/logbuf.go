// Package logbuf is the output buffer shared by the test helpers: a child
// process or a logger writes it from its own goroutine while the test reads
// it, so every access is locked.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent Write and String. The zero
// value is ready to use.
type Buffer struct {
	// Max, when positive, bounds the buffer: a write that finds more than
	// Max bytes kept drops them first, so a long test's output cannot grow
	// without bound. Zero keeps everything.
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Max > 0 && l.b.Len() > l.Max {
		l.b.Reset()
	}
	return l.b.Write(p)
}

// String returns everything kept.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Tail returns the last n bytes kept, marked with a leading "…" when
// earlier output was cut, for failure messages that must stay readable.
func (l *Buffer) Tail(n int) string { return Tail(l.String(), n) }

// Tail returns the last n bytes of s, with a leading "…" when s was longer.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
