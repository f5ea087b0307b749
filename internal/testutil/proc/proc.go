// Package proc builds waitingroom's binaries once per test process and runs
// them as real processes for end-to-end tests: free loopback ports, logs
// kept and printed when a test fails, processes killed in t.Cleanup.
package proc

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/logbuf"
	"github.com/waitingroom/waitingroom/internal/testutil/ports"
)

// Binaries are the built commands of the module.
type Binaries struct {
	Dir         string
	Waitingroom string
	DemoBackend string
}

// Build compiles cmd/waitingroom and cmd/demo-backend into dir. Call it
// from TestMain; the caller removes dir.
func Build(dir string) (*Binaries, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/waitingroom", "./cmd/demo-backend")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return &Binaries{
		Dir:         dir,
		Waitingroom: filepath.Join(dir, "waitingroom"),
		DemoBackend: filepath.Join(dir, "demo-backend"),
	}, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the waitingroom module")
	}
	return filepath.Dir(mod), nil
}

// FreePort returns a loopback TCP port that was free a moment ago and that
// no other caller in this test binary got (see package ports).
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := ports.Free()
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	return port
}

// Process is a running command whose output is kept.
type Process struct {
	tb   testing.TB
	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
	err  error
}

// Start runs name with args; the process is killed when the test ends and
// its output is printed if the test failed.
func Start(tb testing.TB, name string, args ...string) *Process {
	tb.Helper()
	p := &Process{tb: tb, out: &logbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("output of %s:\n%s", filepath.Base(name), p.Output())
		}
	})
	return p
}

// Output is everything the process wrote so far.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill ends the process (and its process group) and waits for it.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Wait waits up to d for the process to exit and returns its exit code.
func (p *Process) Wait(d time.Duration) (int, error) {
	select {
	case <-p.done:
		if p.cmd.ProcessState == nil {
			return -1, p.err
		}
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(d):
		return -1, fmt.Errorf("still running after %s", d)
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Eventually polls cond every 20 ms until it holds or d passes, then fails
// the test with msg.
func Eventually(tb testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: "+msg, append([]any{d}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitHTTP waits until url answers with any status.
func WaitHTTP(tb testing.TB, url string, d time.Duration) {
	tb.Helper()
	c := &http.Client{Timeout: time.Second}
	Eventually(tb, d, func() bool {
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, "%s never answered", url)
}

// Waitingroom is a running waitingroom process with its addresses.
type Waitingroom struct {
	*Process
	Public string // http://127.0.0.1:PORT
	Admin  string
	Config string
}

// StartWaitingroom writes cfg (YAML, with %PUBLIC% and %ADMIN% replaced by
// free addresses) to dir/waitingroom.yaml and serves it, waiting until the
// admin /healthz answers.
func StartWaitingroom(tb testing.TB, bin *Binaries, dir, cfg string, extraArgs ...string) *Waitingroom {
	tb.Helper()
	// Another process may take a port between FreePort and waitingroom's
	// bind: try again with new ports when that is why it could not start.
	for attempt := 1; ; attempt++ {
		w, err := startWaitingroom(tb, bin, dir, cfg, extraArgs...)
		if err == nil {
			return w
		}
		if attempt < 3 && strings.Contains(w.Output(), "address already in use") {
			tb.Logf("waitingroom could not bind its ports (attempt %d); trying others", attempt)
			continue
		}
		tb.Fatalf("%v\n%s", err, w.Output())
	}
}

func startWaitingroom(tb testing.TB, bin *Binaries, dir, cfg string, extraArgs ...string) (*Waitingroom, error) {
	tb.Helper()
	public := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	admin := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	cfg = strings.NewReplacer("%PUBLIC%", public, "%ADMIN%", admin).Replace(cfg)
	path := filepath.Join(dir, "waitingroom.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	args := append([]string{"serve", "--config", path, "--log-level", "debug"}, extraArgs...)
	p := Start(tb, bin.Waitingroom, args...)
	w := &Waitingroom{Process: p, Public: "http://" + public, Admin: "http://" + admin, Config: path}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(w.Admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			return w, nil
		}
		if p.Exited() || time.Now().After(deadline) {
			return w, fmt.Errorf("waitingroom did not come up: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Get sends a request with the given Host to the public listener.
func (w *Waitingroom) Get(ctx context.Context, host, path string, header ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.Public+path, nil)
	if err != nil {
		return nil, err
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return http.DefaultClient.Do(req)
}
