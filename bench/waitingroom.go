package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// instance is one waitingroom process.
type instance struct {
	proc   *process
	public string // 127.0.0.1:PORT
	admin  string
	config string
}

// configHead is the part of every generated configuration before hosts;
// %PUBLIC%, %ADMIN% and %STORE% are filled per instance.
const configHead = `listen: "%PUBLIC%"
admin:
  listen: "%ADMIN%"
store:
  redis_url: "%STORE%"
scheduler:
  sweep_interval: 1m
  reconcile_interval: 1m
providers:
  exec: {}
# The benchmarks measure waitingroom, not its wake budgets (on by default):
# one loopback client wakes many hosts many times.
budgets: {max_wakes_per_day: 0, max_wakes_per_hour: 0, client_wakes_per_hour: 0, prefix_wakes_per_hour: 0, max_concurrent_starts: 0}
# Scenario 5 holds 5,000 event streams from one loopback client.
limits: {max_streams_per_client: 20000, max_streams: 20000}
`

// startWaitingroom writes cfg (configHead plus extra) and serves it, waiting
// until the admin listener's /healthz answers.
func (e *env) startWaitingroom(storeURL, extra, hosts string) (*instance, error) {
	public, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := strings.NewReplacer("%PUBLIC%", public, "%ADMIN%", admin, "%STORE%", storeURL).Replace(configHead) +
		extra + "hosts:\n" + hosts
	path := filepath.Join(e.dir, fmt.Sprintf("waitingroom-%d.yaml", e.seq.Add(1)))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	p, err := e.startProcess("waitingroom", e.bins.Waitingroom, "serve", "--config", path, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	w := &instance{proc: p, public: public, admin: admin, config: path}
	client := &http.Client{Timeout: time.Second}
	if err := waitFor(e.ctx, 60*time.Second, p, "waitingroom /healthz", func() bool {
		return answers(client, "http://"+admin+"/healthz")
	}); err != nil {
		return nil, err
	}
	return w, nil
}

// get sends a request with the given Host to the public listener.
func (w *instance) get(ctx context.Context, host, path string, header ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.public+path, nil)
	if err != nil {
		return nil, err
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return http.DefaultClient.Do(req)
}

// state reads /.waitingroom/status of host.
func (w *instance) state(ctx context.Context, host string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := w.get(ctx, host, "/.waitingroom/status", "Accept", "application/json")
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

func (e *env) waitState(w *instance, host, want string, d time.Duration) error {
	last := ""
	err := waitFor(e.ctx, d, w.proc, fmt.Sprintf("%s to be %s", host, want), func() bool {
		last = w.state(e.ctx, host)
		return last == want
	})
	if err != nil {
		return fmt.Errorf("%w (last state %q)", err, last)
	}
	return nil
}

// wakePage asks for host's page as a browser would (waking it) and checks
// the waiting page came back.
func (w *instance) wakePage(ctx context.Context, host string) error {
	resp, err := w.get(ctx, host, "/", browserHeaders...)
	if err != nil {
		return fmt.Errorf("wake %s: %w", host, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("wake %s: status %d, want 503 (the waiting page)", host, resp.StatusCode)
	}
	return nil
}

// sleepingHostYAML is a host whose backend never finishes booting: start
// succeeds at once, but its ready_url is a closed port, so the host stays
// "starting" for the whole run — the state a crowd on a sleeping host sees.
func sleepingHostYAML(name, closedAddr string) string {
	return fmt.Sprintf(`  - host: %s
    provider: exec
    start: ["true"]
    stop: ["true"]
    ready_url: http://%s/
    start_timeout: 1h
    idle_timeout: 1h
`, name, closedAddr)
}

// demoHost is an exec host backed by cmd/demo-backend, which boots after a
// delay and counts its starts in a file (as the end-to-end tests do).
type demoHost struct {
	e         *env
	name      string
	addr      string
	delay     time.Duration
	pidfile   string
	countFile string
}

func (e *env) newDemoHost(name string, delay time.Duration) (*demoHost, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(e.dir, "demo-")
	if err != nil {
		return nil, err
	}
	d := &demoHost{e: e, name: name, addr: addr, delay: delay,
		pidfile: filepath.Join(dir, "pid"), countFile: filepath.Join(dir, "starts")}
	// The backend daemonizes out of our process group: stop it by pidfile.
	e.clean.add(d.stop)
	return d, nil
}

func (d *demoHost) yaml() string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	bin := q(d.e.bins.DemoBackend)
	return fmt.Sprintf(`  - host: %s
    provider: exec
    start: [%s, "start", "--addr", %s, "--pidfile", %s, "--delay", "%s", "--count-file", %s, "--name", %s]
    stop: [%s, "stop", "--pidfile", %s]
    status: [%s, "status", "--pidfile", %s]
    ready_url: http://%s/healthz
    idle_timeout: 1h
    start_timeout: 1m
`, d.name, bin, q(d.addr), q(d.pidfile), d.delay, q(d.countFile), q(d.name),
		bin, q(d.pidfile), bin, q(d.pidfile), d.addr)
}

// starts counts how often the start command ran.
func (d *demoHost) starts() int {
	b, err := os.ReadFile(d.countFile)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "start ")
}

func (d *demoHost) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, d.e.bins.DemoBackend, "stop", "--pidfile", d.pidfile).Run()
}
