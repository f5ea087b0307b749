package proc

import (
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestKillMatchingKillsWhatMatchesAndNothingElse: of two sleeping
// children, only the one the match names is killed.
func TestKillMatchingKillsWhatMatchesAndNothingElse(t *testing.T) {
	var kids []*exec.Cmd
	for range 2 {
		c := exec.Command("sleep", "60")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, c)
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	target := "/proc/" + strconv.Itoa(kids[0].Process.Pid)
	if n := KillMatching(func(dir string) bool { return dir == target }); n != 1 {
		t.Fatalf("killed %d processes, want 1", n)
	}
	done := make(chan error, 1)
	go func() { done <- kids[0].Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the matching process is still alive")
	}
	if err := kids[1].Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the other process is gone too: %v", err)
	}
}
