package exec

import (
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperArg makes the test binary act as a small program the provider runs,
// so the tests need nothing beyond Go and /bin/sh.
const helperArg = "wr-exec-helper"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == helperArg {
		os.Exit(helper(os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

// helper modes:
//
//	args FILE ARG...      write ARG... as JSON to FILE
//	fail CODE BYTES       write BYTES bytes to stderr, exit CODE
//	daemonize PIDFILE     start a lingering child, write its pid, exit 0
//	hang PIDFILE          start a lingering child, write its pid, hang
//	linger                write to stderr every 50ms for 30s
func helper(mode string, args []string) int {
	switch mode {
	case "args":
		b, _ := json.Marshal(args[1:])
		if err := os.WriteFile(args[0], b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "fail":
		code, _ := strconv.Atoi(args[0])
		n, _ := strconv.Atoi(args[1])
		os.Stderr.WriteString(strings.Repeat("x", max(0, n-4)) + "END\n")
		return code
	case "daemonize", "hang":
		self, _ := os.Executable()
		child := osexec.Command(self, helperArg, "linger")
		child.Stdout, child.Stderr = os.Stdout, os.Stderr
		if err := child.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.WriteFile(args[0], []byte(strconv.Itoa(child.Process.Pid)), 0o600); err != nil {
			return 1
		}
		if mode == "hang" {
			time.Sleep(30 * time.Second)
		}
		return 0
	case "linger":
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			fmt.Fprintln(os.Stderr, "still here")
			time.Sleep(50 * time.Millisecond)
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// helperArgv is the argv that runs the test binary in helper mode.
func helperArgv(t *testing.T, mode string, args ...string) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{self, helperArg, mode}, args...)
}

// alive reports whether pid is a live process. A zombie counts as gone: the
// container's init may never reap orphans.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Format: pid (comm) S ...; comm may contain spaces, so look after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitPidFile polls for a pid written by a helper, failing after a deadline.
// The process is killed when the test ends, whatever happened.
func waitPidFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file %s: %v", path, err)
			}
			// Held by a pidfd from now on (Linux ≥ 5.3; Go falls back to
			// the bare pid without one): the cleanup then kills this
			// process or nothing, not a stranger given the pid after it
			// ended (pids are reused on a busy machine).
			proc, err := os.FindProcess(pid)
			if err != nil {
				t.Fatalf("pid %d from %s: %v", pid, path, err)
			}
			t.Cleanup(func() { _ = proc.Kill(); _ = proc.Release() })
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid in %s after 10s", path)
	return 0
}

// waitGone polls until pid is gone, failing after a deadline.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive 5s after its group was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
