//go:build unix

// Package rlimit reads and raises the process's open-file limit
// (RLIMIT_NOFILE). Every connection, Redis socket, probe and exec pipe is a
// file descriptor: the limit is what bounds how many event streams the
// public listener may keep open (web.PublicOptions.MaxStreams).
package rlimit

import (
	"fmt"
	"syscall"
)

// Files returns the soft and hard open-file limits.
func Files() (soft, hard uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	return uint64(l.Cur), uint64(l.Max), nil
}

// Raise lifts the soft open-file limit to the hard one, which an
// unprivileged process may do, and returns the limit now in force. Go's
// runtime does the same at start on most systems since Go 1.19; Raise
// makes it explicit, and checks it, where the process depends on it.
func Raise() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	if l.Cur >= l.Max {
		return uint64(l.Cur), nil
	}
	want := l
	want.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return uint64(l.Cur), fmt.Errorf("raise the open-file limit from %d to %d: %w", l.Cur, l.Max, err)
	}
	return uint64(want.Cur), nil
}
