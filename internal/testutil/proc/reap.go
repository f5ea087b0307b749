package proc

import (
	"os"
	"strconv"
	"syscall"
)

// KillMatching SIGKILLs every process of this machine (this one aside)
// for which match, given its /proc directory ("/proc/1234"), holds, and
// reports how many it killed: the sweep for what a test's child left
// running (a browser's helpers, a daemon started by a command).
func KillMatching(match func(procDir string) bool) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !match("/proc/"+e.Name()) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}
