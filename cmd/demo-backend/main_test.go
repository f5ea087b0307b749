package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestPidFileOfAnotherProgramIsNotTheServer: once the server has ended,
// its pid may be given to another process. The pid file then names a
// stranger, which is neither "running" (a start would skip starting) nor
// stopped by `stop`.
func TestPidFileOfAnotherProgramIsNotTheServer(t *testing.T) {
	stranger := exec.Command("sleep", "60")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Process.Kill(); _ = stranger.Wait() })
	pidfile := filepath.Join(t.TempDir(), "backend.pid")
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(stranger.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if running(pidfile) {
		t.Fatal("a pid file naming another program reads as a running demo-backend")
	}
	if err := stop(pidfile); err != nil {
		t.Fatal(err)
	}
	if err := stranger.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("stop signalled the stranger: %v", err)
	}
	// And a pid file naming this very program (the test binary stands in
	// for the server) reads as running.
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if !running(pidfile) {
		t.Fatal("a pid file naming a live process of this program does not read as running")
	}
}
