// Package traefiktest runs a real Traefik v3.7 for end-to-end tests: built
// by scripts/install-traefik (scripts/test exports its path as
// WAITINGROOM_TRAEFIK), started on free loopback ports with the file
// provider or the HTTP provider (with a bearer token), its access log
// written as JSON so a test can count every status a client got, and
// killed when the test ends. Missing, it fails the test when CI=true and
// skips it otherwise, saying how to install it.
package traefiktest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/logbuf"
	"github.com/waitingroom/waitingroom/internal/testutil/ports"
)

// Version is the Traefik the tests are written against.
const Version = "v3.7.12"

// InstallHint is what to run when Traefik is missing.
const InstallHint = "traefik not found: run scripts/install-traefik (it builds " + Version +
	" from the Go module proxy once per machine) and set WAITINGROOM_TRAEFIK to the path it prints, or run scripts/test"

// startTimeout bounds how long Traefik may take to answer its ping.
const startTimeout = 30 * time.Second

// Binary finds Traefik: $WAITINGROOM_TRAEFIK, else the binary
// scripts/install-traefik caches. Missing, it fails the test when CI=true
// and skips it otherwise.
func Binary(tb testing.TB) string {
	tb.Helper()
	candidates := []string{os.Getenv("WAITINGROOM_TRAEFIK")}
	cache := os.Getenv("TRAEFIK_CACHE")
	if cache == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(dir, "traefik")
		}
	}
	if cache != "" {
		candidates = append(candidates, filepath.Join(cache, "traefik-"+Version))
	}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal(InstallHint)
	}
	tb.Skip(InstallHint)
	return ""
}

// Options choose Traefik's providers. Set File, or HTTPEndpoint, or both.
type Options struct {
	// File is the file provider's dynamic configuration (YAML), written to
	// a file Traefik watches; Traefik.WriteFile replaces it.
	File string
	// HTTPEndpoint is the HTTP provider's endpoint (waitingroom's
	// /api/traefik), polled every HTTPPoll (default 1 s) with
	// "Authorization: Bearer HTTPToken" when HTTPToken is set.
	HTTPEndpoint string
	HTTPToken    string
	HTTPPoll     time.Duration
	// LogLevel is Traefik's log level (default INFO).
	LogLevel string
	// APIPort, when set, is the port of the "traefik" entry point (API,
	// ping, metrics), for a test that must name Traefik's metrics URL
	// before Traefik starts; default a free port.
	APIPort int
}

// Traefik is one running Traefik.
type Traefik struct {
	// Addr is 127.0.0.1:PORT of the "web" entry point; Port the same port.
	Addr string
	Port int
	// API is http://127.0.0.1:PORT of the "traefik" entry point: the API
	// (/api/...), /ping and Prometheus /metrics.
	API string
	// Dir holds the dynamic configuration file and the access log.
	Dir string

	tb   testing.TB
	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
}

// Start runs Traefik with o and waits until it answers its ping. It is
// killed (and its log printed if the test failed) in tb.Cleanup.
func Start(tb testing.TB, o Options) *Traefik {
	tb.Helper()
	bin := Binary(tb)
	dir := tb.TempDir()
	if o.File != "" {
		if err := os.WriteFile(filepath.Join(dir, "dynamic.yml"), []byte(o.File), 0o644); err != nil {
			tb.Fatalf("traefik: %v", err)
		}
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		t, err := start(tb, bin, dir, o)
		if err == nil {
			return t
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	tb.Fatalf("traefik did not start: %v", lastErr)
	return nil
}

func start(tb testing.TB, bin, dir string, o Options) (*Traefik, error) {
	tb.Helper()
	webPort, err := ports.Free()
	if err != nil {
		return nil, err
	}
	apiPort := o.APIPort
	if apiPort == 0 {
		if apiPort, err = ports.Free(); err != nil {
			return nil, err
		}
	}
	level := o.LogLevel
	if level == "" {
		level = "INFO"
	}
	args := []string{
		"--global.checkNewVersion=false",
		"--global.sendAnonymousUsage=false",
		"--entryPoints.web.address=127.0.0.1:" + strconv.Itoa(webPort),
		"--entryPoints.traefik.address=127.0.0.1:" + strconv.Itoa(apiPort),
		"--api.insecure=true",
		"--ping=true",
		"--metrics.prometheus=true",
		"--log.level=" + level,
		"--accessLog=true",
		"--accessLog.format=json",
		"--accessLog.filePath=" + filepath.Join(dir, "access.log"),
		"--accessLog.bufferingSize=0",
	}
	if o.File != "" {
		args = append(args, "--providers.file.filename="+filepath.Join(dir, "dynamic.yml"), "--providers.file.watch=true")
	}
	if o.HTTPEndpoint != "" {
		poll := o.HTTPPoll
		if poll <= 0 {
			poll = time.Second
		}
		args = append(args, "--providers.http.endpoint="+o.HTTPEndpoint, "--providers.http.pollInterval="+poll.String())
		if o.HTTPToken != "" {
			args = append(args, "--providers.http.headers.Authorization=Bearer "+o.HTTPToken)
		}
	}
	t := &Traefik{
		Addr: "127.0.0.1:" + strconv.Itoa(webPort), Port: webPort,
		API: "http://127.0.0.1:" + strconv.Itoa(apiPort), Dir: dir,
		tb: tb, out: &logbuf.Buffer{Max: 8 << 20}, done: make(chan struct{}),
	}
	t.cmd = exec.Command(bin, args...)
	t.cmd.Stdout, t.cmd.Stderr = t.out, t.out
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = t.cmd.Wait(); close(t.done) }()

	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-t.done:
			return nil, fmt.Errorf("traefik exited at start:\n%s", t.out.Tail(4000))
		default:
		}
		if resp, err := c.Get(t.API + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Stop()
			return nil, fmt.Errorf("traefik did not answer /ping within %s:\n%s", startTimeout, t.out.Tail(4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Cleanup(func() {
		t.Stop()
		if tb.Failed() {
			tb.Logf("traefik log:\n%s", t.out.Tail(12000))
		}
	})
	return t, nil
}

// Stop ends Traefik (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (t *Traefik) Stop() {
	select {
	case <-t.done:
		return
	default:
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		<-t.done
	}
}

// PID is Traefik's process id.
func (t *Traefik) PID() int { return t.cmd.Process.Pid }

// Log is what Traefik logged so far.
func (t *Traefik) Log() string { return t.out.String() }

// URL is http://host:PORT for a host the caller resolves to loopback.
func (t *Traefik) URL(host string) string { return fmt.Sprintf("http://%s:%d", host, t.Port) }

// WriteFile replaces the file provider's dynamic configuration (written
// beside it and renamed, so Traefik never reads half a file).
func (t *Traefik) WriteFile(tb testing.TB, yaml string) {
	tb.Helper()
	tmp := filepath.Join(t.Dir, "dynamic.yml.tmp")
	if err := os.WriteFile(tmp, []byte(yaml), 0o644); err != nil {
		tb.Fatalf("traefik: %v", err)
	}
	if err := os.Rename(tmp, filepath.Join(t.Dir, "dynamic.yml")); err != nil {
		tb.Fatalf("traefik: %v", err)
	}
}

// Router is a router as Traefik's API shows it.
type Router struct {
	Name   string   `json:"name"`
	Rule   string   `json:"rule"`
	Status string   `json:"status"`
	Errors []string `json:"error"`
}

// Routers lists the HTTP routers Traefik runs now.
func (t *Traefik) Routers() ([]Router, error) {
	var rs []Router
	err := t.getJSON("/api/http/routers?per_page=1000", &rs)
	return rs, err
}

// ServerStatus is what Traefik's API says of the servers of a
// loadBalancer service ("service@provider"): url → "UP" or "DOWN".
func (t *Traefik) ServerStatus(service string) (map[string]string, error) {
	var s struct {
		ServerStatus map[string]string `json:"serverStatus"`
	}
	err := t.getJSON("/api/http/services/"+service, &s)
	return s.ServerStatus, err
}

func (t *Traefik) getJSON(path string, v any) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(t.API + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

// WaitRouters waits until Traefik runs every router in names (without
// the provider suffix) enabled and without errors, failing the test after
// within. Every router it runs must be free of errors.
func (t *Traefik) WaitRouters(tb testing.TB, within time.Duration, names ...string) {
	tb.Helper()
	deadline := time.Now().Add(within)
	var last []Router
	var lastErr error
	for {
		last, lastErr = t.Routers()
		if lastErr == nil && routersReady(last, names) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("traefik routers %v not all enabled within %s (last: %+v, %v)\n%s", names, within, last, lastErr, t.out.Tail(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func routersReady(rs []Router, names []string) bool {
	byName := map[string]Router{}
	for _, r := range rs {
		if len(r.Errors) > 0 {
			return false
		}
		name, _, _ := strings.Cut(r.Name, "@")
		byName[name] = r
	}
	for _, n := range names {
		if r, ok := byName[n]; !ok || r.Status != "enabled" {
			return false
		}
	}
	return true
}

// RSS is Traefik's resident memory in bytes, from /proc/PID/status.
func (t *Traefik) RSS() (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(t.PID()) + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", t.PID())
}

// Access is one line of Traefik's JSON access log.
type Access struct {
	Host        string    `json:"RequestHost"`
	Method      string    `json:"RequestMethod"`
	Path        string    `json:"RequestPath"`
	Status      int       `json:"DownstreamStatus"`
	Router      string    `json:"RouterName"`
	Service     string    `json:"ServiceName"`
	ServiceURL  string    `json:"ServiceURL"`
	ContentSize int64     `json:"DownstreamContentSize"`
	Start       time.Time `json:"StartUTC"`
}

// HealthCheckFailure is one "Health check failed." line of Traefik's log.
type HealthCheckFailure struct {
	// At is to the second: Traefik's log says no more.
	At      time.Time
	Service string // e.g. app-test-backend@file
	URL     string // the server checked
}

// ansi matches the colour codes of Traefik's console log.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// HealthCheckFailures reads Traefik's log for failed active health checks
// (logged at WARN, once per check while a server is down).
func (t *Traefik) HealthCheckFailures() []HealthCheckFailure {
	var out []HealthCheckFailure
	for _, line := range strings.Split(ansi.ReplaceAllString(t.Log(), ""), "\n") {
		if !strings.Contains(line, "Health check failed.") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		at, err := time.Parse(time.RFC3339, fields[0])
		if err != nil {
			continue
		}
		f := HealthCheckFailure{At: at}
		for _, kv := range fields[1:] {
			if v, ok := strings.CutPrefix(kv, "serviceName="); ok {
				f.Service = v
			} else if v, ok := strings.CutPrefix(kv, "targetURL="); ok {
				f.URL = v
			}
		}
		out = append(out, f)
	}
	return out
}

// AccessLog reads every request Traefik logged so far: what each client
// got.
func (t *Traefik) AccessLog() ([]Access, error) {
	b, err := os.ReadFile(filepath.Join(t.Dir, "access.log"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []Access
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var a Access
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, fmt.Errorf("access log line %q: %w", line, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Dial checks that the web entry point accepts connections.
func (t *Traefik) Dial() error {
	c, err := net.DialTimeout("tcp", t.Addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}
