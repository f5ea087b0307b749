package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	osexec "os/exec"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// maxOutput is how much of a command's stderr (or stdout) goes into an
// error message: enough for the line that explains a failure, not a log.
const maxOutput = 2 << 10

const truncatedMark = "…(truncated) "

// waitDelay bounds how long Wait lingers after the command is killed. The
// command's output goes to files, not pipes, so nothing should linger; this
// is a safety net, never the normal path.
const waitDelay = time.Second

// result is what one finished command left behind.
type result struct {
	exitCode int    // -1 when the command never ran or was killed
	output   string // stderr, or stdout when stderr is empty; truncated
}

// run executes argv directly (no shell) in its own process group, bounded
// by timeout and ctx. A nil error means the command ran to completion: the
// caller decides what its exit code means. An error means it could not be
// started, or was killed on timeout or cancellation; the whole process group
// is killed then, so a hung script leaves no children behind.
//
// The command's stdout and stderr are unlinked temporary files rather than
// pipes. A start command that backgrounds a daemon hands these descriptors
// down to it; with pipes, waiting would hang until the daemon exits, and a
// daemon writing after the pipe was closed would die of SIGPIPE. With
// files, run returns as soon as the command itself exits and the daemon
// keeps running.
func (p *Provider) run(ctx context.Context, action string, argv []string, host string) (result, error) {
	res := result{exitCode: -1}
	if len(argv) == 0 || argv[0] == "" {
		return res, fmt.Errorf("no %s command configured for %s", action, host)
	}
	stdout, err := unlinkedTemp()
	if err != nil {
		return res, fmt.Errorf("%s %s: capture output: %w", action, host, err)
	}
	defer stdout.Close()
	stderr, err := unlinkedTemp()
	if err != nil {
		return res, fmt.Errorf("%s %s: capture output: %w", action, host, err)
	}
	defer stderr.Close()

	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := osexec.CommandContext(cctx, argv[0], argv[1:]...)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(), "WAITINGROOM_HOST="+host, "WAITINGROOM_ACTION="+action)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The negative pid names the process group: the command and
		// everything it spawned that stayed in the group.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
		return nil
	}
	cmd.WaitDelay = waitDelay

	began := time.Now()
	runErr := cmd.Run()
	took := time.Since(began)
	res.output = output(stderr, stdout)

	if cmd.ProcessState != nil && cctx.Err() == nil {
		res.exitCode = cmd.ProcessState.ExitCode()
	}
	p.log.Debug("exec command finished", "action", action, "host", host, "command", argv[0],
		"exit_code", res.exitCode, "took", took.Round(time.Millisecond))

	switch {
	case runErr == nil:
		return res, nil
	case cctx.Err() != nil:
		// Killed: report why, keeping the context error reachable
		// with errors.Is.
		why := fmt.Errorf("did not finish within %s; its process group was killed: %w", p.timeout, cctx.Err())
		if ctx.Err() != nil {
			why = fmt.Errorf("was cancelled; its process group was killed: %w", ctx.Err())
		}
		return res, fmt.Errorf("%s %s: %q %w%s", action, host, argv[0], why, suffix(res.output))
	case cmd.ProcessState == nil:
		// Never started: missing binary, no permission, bad directory.
		if errors.Is(runErr, osexec.ErrNotFound) || errors.Is(runErr, fs.ErrNotExist) {
			return res, fmt.Errorf("%s %s: command %q not found (check the path, or PATH of waitingroom): %w", action, host, argv[0], runErr)
		}
		return res, fmt.Errorf("%s %s: cannot run %q: %w", action, host, argv[0], runErr)
	default:
		var exitErr *osexec.ExitError
		if errors.As(runErr, &exitErr) {
			return res, nil // a plain non-zero exit: the caller judges it
		}
		return res, fmt.Errorf("%s %s: %q: %w%s", action, host, argv[0], runErr, suffix(res.output))
	}
}

// exitError describes a command that exited with a code its caller treats
// as failure.
func exitError(action, host string, argv []string, res result) error {
	return fmt.Errorf("%s %s: %q exited with code %d%s", action, host, argv[0], res.exitCode, suffix(res.output))
}

func suffix(out string) string {
	if out == "" {
		return ""
	}
	return ": " + out
}

func unlinkedTemp() (*os.File, error) {
	f, err := os.CreateTemp("", "waitingroom-exec-*")
	if err != nil {
		return nil, err
	}
	// Unlinked at once: nothing is left on disk whatever happens next.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// output returns the tail of stderr, or of stdout when stderr is empty
// (many scripts print their errors there). The tail, because a failing
// script's last lines say why it failed.
func output(stderr, stdout *os.File) string {
	if s := tail(stderr); s != "" {
		return s
	}
	return tail(stdout)
}

func tail(f *os.File) string {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return ""
	}
	// ReadAt, not Read: a backgrounded daemon shares this file's offset.
	size := fi.Size()
	start := max(0, size-maxOutput)
	buf := make([]byte, size-start)
	n, err := f.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	buf = buf[:n]
	if start > 0 {
		// Do not begin in the middle of a UTF-8 sequence.
		for len(buf) > 0 && !utf8.RuneStart(buf[0]) {
			buf = buf[1:]
		}
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(buf), "�"))
	if start > 0 {
		s = truncatedMark + s
	}
	return s
}
