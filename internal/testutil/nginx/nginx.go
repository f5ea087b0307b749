// Package nginx runs Debian's nginx as a real reverse proxy for end-to-end
// tests: a generated configuration in a temporary prefix (pid, logs and
// temp files all inside it), in the foreground, on a free loopback port,
// killed when the test ends. Its main use is StartFailover, which runs
// traefik/examples/nginx.conf.tmpl — nginx configured the way waitingroom's
// generated Traefik configuration fails over — so the end-to-end journey and
// the template's own test exercise the same file.
package nginx

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/logbuf"
	"github.com/waitingroom/waitingroom/internal/testutil/ports"
)

// InstallHint is what to run when nginx is missing.
const InstallHint = "nginx not found: install it with `apt-get install -y nginx-light`"

// startTimeout bounds how long nginx may take to listen.
const startTimeout = 10 * time.Second

// Binary finds nginx (on PATH, or Debian's /usr/sbin/nginx, which is not on
// a non-root PATH). Missing, it fails the test when CI=true and skips it
// otherwise, saying how to install it.
func Binary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/sbin/nginx"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal(InstallHint)
	}
	tb.Skip(InstallHint)
	return ""
}

// Paths are what a configuration needs to know about where it runs.
type Paths struct {
	// Prefix is a writable directory for the pid file, logs and temp
	// files; nginx runs with -p Prefix.
	Prefix string
	// Listen is the 127.0.0.1:PORT nginx must listen on.
	Listen string
}

// Server is one running nginx.
type Server struct {
	// Addr is 127.0.0.1:PORT; Port the same port as a number.
	Addr string
	Port int
	// Prefix is nginx's prefix directory; ErrorLog and AccessLog are the
	// logs the configuration is expected to write there.
	Prefix string

	tb   testing.TB
	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
}

// Start writes the configuration conf returns to Prefix/nginx.conf, checks
// it with `nginx -t`, runs nginx in the foreground and waits until it
// listens. The configuration must keep nginx in the foreground (`daemon
// off;`) and put its pid file and logs under Prefix. nginx is stopped (and
// its output printed if the test failed) in tb.Cleanup.
func Start(tb testing.TB, conf func(Paths) (string, error)) *Server {
	tb.Helper()
	bin := Binary(tb)
	prefix := tb.TempDir()
	// nginx started as root runs its workers as nobody: they must be able
	// to reach their temp directories under the prefix.
	if err := os.Chmod(prefix, 0o755); err != nil {
		tb.Fatalf("nginx prefix: %v", err)
	}
	// The free port found may be taken before nginx binds it: try a few.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := ports.Free()
		if err != nil {
			tb.Fatalf("nginx: free port: %v", err)
		}
		s, err := start(tb, bin, prefix, port, conf)
		if err == nil {
			return s
		}
		lastErr = err
	}
	tb.Fatalf("nginx did not start: %v", lastErr)
	return nil
}

func start(tb testing.TB, bin, prefix string, port int, conf func(Paths) (string, error)) (*Server, error) {
	tb.Helper()
	p := Paths{Prefix: prefix, Listen: fmt.Sprintf("127.0.0.1:%d", port)}
	text, err := conf(p)
	if err != nil {
		return nil, fmt.Errorf("nginx configuration: %w", err)
	}
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("nginx configuration: %w", err)
	}
	errLog := filepath.Join(prefix, "error.log")
	args := []string{"-p", prefix + "/", "-e", errLog, "-c", path}
	if out, err := exec.Command(bin, append([]string{"-t", "-q"}, args...)...).CombinedOutput(); err != nil {
		// A broken configuration will not get better on another port.
		tb.Fatalf("nginx -t rejected the configuration: %v\n%s\n%s", err, out, numbered(text))
	}

	s := &Server{Addr: p.Listen, Port: port, Prefix: prefix, tb: tb, out: &logbuf.Buffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// Its own process group, so a worker left behind by a killed master
	// goes too.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("nginx exited at start:\n%s\n%s", s.out.String(), s.ErrorLog())
		default:
		}
		// Any connection will do: the master binds the socket before it
		// forks the worker, and the kernel queues connections until the
		// worker accepts them. An HTTP request here could reach the
		// proxied backends and change what the test observes.
		conn, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("nginx did not listen on %s within %s:\n%s", s.Addr, startTimeout, s.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Cleanup(func() {
		s.Stop()
		if tb.Failed() {
			tb.Logf("nginx output:\n%s\nnginx error.log:\n%s\nnginx access.log:\n%s",
				s.out.String(), logbuf.Tail(s.ErrorLog(), 8000), logbuf.Tail(s.AccessLog(), 8000))
		}
	})
	return s, nil
}

// Stop shuts nginx down (fast shutdown, then SIGKILL to its process group
// after 5 s) and waits for it. Calling it again does nothing.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	// SIGTERM is nginx's fast shutdown; the master takes its workers down.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.kill()
	}
	// Workers whose master died first.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
}

func (s *Server) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// URL is http://host:PORT/ for a host name the caller resolves to
// loopback (for a browser: browser.MapHosts).
func (s *Server) URL(host string) string {
	return fmt.Sprintf("http://%s:%d/", host, s.Port)
}

// ErrorLog is the content of Prefix/error.log.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Prefix, "error.log"))
	return string(b)
}

// AccessLog is the content of Prefix/access.log (where the failover
// template writes it).
func (s *Server) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Prefix, "access.log"))
	return string(b)
}

// Failover are the fields of traefik/examples/nginx.conf.tmpl other than
// the prefix and listen address.
type Failover struct {
	// ServerName is the registered host, e.g. app.test.
	ServerName string
	// Backend is HOST:PORT of the backend (the primary).
	Backend string
	// Waitingroom is HOST:PORT of waitingroom's public listener (the
	// backup, for refused connections and 502–504).
	Waitingroom string
	// TouchURL, when set, is waitingroom's ForwardAuth endpoint
	// (http://HOST:PORT/.waitingroom/touch), called with auth_request for
	// every request, as Traefik's forwardAuth middleware would.
	TouchURL string
}

// FailoverTemplate is the path of the failover template,
// traefik/examples/nginx.conf.tmpl, found from the module root.
func FailoverTemplate(tb testing.TB) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("nginx: %v", err)
	}
	return filepath.Join(root, "traefik", "examples", "nginx.conf.tmpl")
}

// StartFailover runs nginx with traefik/examples/nginx.conf.tmpl: f.Backend
// first, waitingroom as the fallback for refused connections and 502–504,
// the original Host passed on, and the optional touch subrequest.
func StartFailover(tb testing.TB, f Failover) *Server {
	tb.Helper()
	tmpl, err := template.New("nginx.conf.tmpl").Option("missingkey=error").ParseFiles(FailoverTemplate(tb))
	if err != nil {
		tb.Fatalf("nginx failover template: %v", err)
	}
	return Start(tb, func(p Paths) (string, error) {
		var b bytes.Buffer
		err := tmpl.Execute(&b, struct {
			Prefix, Listen, ServerName, Backend, Waitingroom, TouchURL string
		}{p.Prefix, p.Listen, f.ServerName, f.Backend, f.Waitingroom, f.TouchURL})
		return b.String(), err
	})
}

// moduleRoot walks up from the working directory (a package directory
// under `go test`) to the go.mod of the module.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// numbered prefixes each line with its number, for nginx -t's messages.
func numbered(text string) string {
	var b strings.Builder
	for i, line := range strings.Split(text, "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, line)
	}
	return b.String()
}
