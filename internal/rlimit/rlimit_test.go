//go:build unix

package rlimit

import (
	"syscall"
	"testing"
)

// A soft limit below the hard one is raised to it.
func TestRaiseLiftsSoftToHard(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	if orig.Max < 128 {
		t.Fatalf("hard open-file limit %d is too low to test with", orig.Max)
	}
	low := syscall.Rlimit{Cur: 64, Max: orig.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	if soft, _, err := Files(); err != nil || soft != 64 {
		t.Fatalf("Files after lowering: %d, %v", soft, err)
	}
	got, err := Raise()
	if err != nil || got != uint64(orig.Max) {
		t.Fatalf("Raise = %d, %v; want %d", got, err, orig.Max)
	}
	if soft, hard, _ := Files(); soft != hard {
		t.Errorf("after Raise: soft %d, hard %d", soft, hard)
	}
	// Already at the hard limit: nothing to do, no error.
	if again, err := Raise(); err != nil || again != uint64(orig.Max) {
		t.Errorf("second Raise = %d, %v", again, err)
	}
}
