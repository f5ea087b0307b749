// Package e2e runs the built waitingroom binary against real processes:
// the exec provider's demo backend, redis-server, and friends.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/internal/testutil/k8stest"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/swarmtest"
)

// bins is set once by TestMain, before any test runs, and only read after.
var bins *proc.Binaries

// dockerImages are the Docker test images, built on first use and removed
// by TestMain.
var dockerImages dockertest.Shared

// swarms is the engine's swarm, initialised on first use if it has none and
// left by TestMain if it was (swarmtest).
var swarms swarmtest.Swarm

// k8sCluster is the Kubernetes control plane of the kubernetes tests,
// started on first use and stopped by TestMain.
var k8sCluster k8stest.Shared

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "waitingroom-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err = proc.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if n := reapDemoBackends(bins.DemoBackend); n > 0 {
		fmt.Fprintf(os.Stderr, "e2e: killed %d demo backend(s) a test left running\n", n)
	}
	k8sCluster.Close()
	if err := dockerImages.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "removing docker test images:", err)
	}
	if err := swarms.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "leaving the test swarm:", err)
		code = max(code, 1)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// reapDemoBackends kills the demo backends still running from exe (this
// package's own build, so no other program's): the safety net for a wake
// whose start command outlived its test. It returns how many it killed.
func reapDemoBackends(exe string) int {
	return proc.KillMatching(func(dir string) bool {
		p, err := os.Readlink(dir + "/exe")
		return err == nil && strings.TrimSuffix(p, " (deleted)") == exe
	})
}

// demoHost is the YAML of one exec host backed by the demo backend.
type demoHost struct {
	name      string
	port      int
	dir       string
	delay     time.Duration
	idle      string
	countFile string
	// shows is the name the backend's page shows when it is not the host
	// (the demo configuration's backend says "demo").
	shows string
}

func (d *demoHost) pageName() string {
	if d.shows != "" {
		return d.shows
	}
	return d.name
}

func newDemoHost(t testing.TB, name string, delay time.Duration, idle string) *demoHost {
	t.Helper()
	d := &demoHost{name: name, port: proc.FreePort(t), dir: t.TempDir(), delay: delay, idle: idle}
	d.countFile = filepath.Join(d.dir, "starts")
	t.Cleanup(func() { d.stop() })
	return d
}

func (d *demoHost) pidfile() string { return filepath.Join(d.dir, "pid") }
func (d *demoHost) url() string     { return fmt.Sprintf("http://127.0.0.1:%d", d.port) }

func (d *demoHost) yaml() string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return fmt.Sprintf(`
  - host: %s
    provider: exec
    start: [%s, "start", "--addr", "127.0.0.1:%d", "--pidfile", %s, "--delay", "%s", "--count-file", %s, "--name", %s]
    stop: [%s, "stop", "--pidfile", %s]
    status: [%s, "status", "--pidfile", %s]
    ready_url: %s/healthz
    idle_timeout: %s
    start_timeout: 30s
`, d.name, q(bins.DemoBackend), d.port, q(d.pidfile()), d.delay, q(d.countFile), q(d.name),
		q(bins.DemoBackend), q(d.pidfile()), q(bins.DemoBackend), q(d.pidfile()), d.url(), d.idle)
}

// starts counts how often the start command ran.
func (d *demoHost) starts() int {
	b, err := os.ReadFile(d.countFile)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "start ")
}

func (d *demoHost) answering() bool {
	c := http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get(d.url() + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (d *demoHost) stop() {
	_ = runCmd(bins.DemoBackend, "stop", "--pidfile", d.pidfile())
}

func (d *demoHost) processAlive() bool {
	return runCmd(bins.DemoBackend, "status", "--pidfile", d.pidfile()) == nil
}

// sse reads /.waitingroom/events of host and sends each state it reports.
func sse(ctx context.Context, t testing.TB, public, host string) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, public+"/.waitingroom/events", nil)
	req.Host = host
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events content type %q", ct)
	}
	out := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "data:") {
				continue
			}
			var ev struct {
				State string `json:"state"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &ev) == nil {
				select {
				case out <- ev.State:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

func status(t testing.TB, w *proc.Waitingroom, host string) string {
	t.Helper()
	resp, err := w.Get(context.Background(), host, "/.waitingroom/status")
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	var s struct {
		State string `json:"state"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&s)
	return s.State
}

func runCmd(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return osexec.CommandContext(ctx, name, args...).Run()
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}
