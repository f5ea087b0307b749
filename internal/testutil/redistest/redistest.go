// Package redistest starts a real redis-server process for tests: on a free
// loopback port, with its own data directory, killed when the test ends.
// Tests use it to prove behaviour against the Redis that production runs,
// including what happens when that Redis dies and comes back.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/logbuf"
	"github.com/waitingroom/waitingroom/internal/testutil/ports"
)

// InstallHint is what to run when redis-server is missing.
const InstallHint = "redis-server not found on PATH: install it with `apt-get install -y redis-server`"

// startTimeout bounds how long a redis-server may take to answer PING.
const startTimeout = 10 * time.Second

// Option changes how the server is started.
type Option func(*config)

type config struct {
	persistent bool
	replicaOf  string // host:port of the primary this server replicates
	// sentinelConf, when set, makes the process a sentinel run from this
	// configuration text (written once: a sentinel rewrites its file).
	sentinelConf string
	cluster      bool
}

// WithPersistence turns the append-only file on (fsync on every write), so
// data written before Stop is there again after Restart, as with a
// production Redis that crashed.
func WithPersistence() Option {
	return func(c *config) { c.persistent = true }
}

// WithClusterMode starts the server as a Redis Cluster node (of a cluster
// of one, with no slots assigned): enough to see how a client is told it
// talks to a cluster.
func WithClusterMode() Option {
	return func(c *config) { c.cluster = true }
}

// Server is one redis-server process owned by a test.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	cfg  config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *logbuf.Buffer
}

// Start runs redis-server on a free loopback port and waits until it
// answers PING. The process is killed in t.Cleanup. Without redis-server on
// PATH the test fails when CI=true and is skipped otherwise, saying how to
// install it.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	return start(tb, lookPath(tb, "redis-server", InstallHint), cfg)
}

// lookPath finds bin, or fails the test when CI=true and skips it
// otherwise, with hint.
func lookPath(tb testing.TB, bin, hint string) string {
	tb.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal(hint)
		}
		tb.Skip(hint)
	}
	return path
}

func start(tb testing.TB, bin string, cfg config) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir(), cfg: cfg}
	tb.Cleanup(s.Stop)

	// The free port found may be taken by someone else before redis binds
	// it: try a few ports before giving up.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := ports.Free()
		if err != nil {
			tb.Fatalf("redistest: find a free port: %v", err)
		}
		s.port = port
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr()) }

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Dir is the server's data directory.
func (s *Server) Dir() string { return s.dir }

// Stop kills the server (SIGKILL, like a crash) and waits for it to exit.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Pause freezes the server (SIGSTOP): it keeps its connections open but
// answers nothing, like a hung or partitioned Redis. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

// Restart starts the server again on the same port with the same data
// directory (kill first if it runs) and waits until it answers PING.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	s.stopLocked()
	s.mu.Unlock()
	// The port was ours a moment ago; a just-killed listener can take a
	// moment to be released, so retry briefly.
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redistest: restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) start() error {
	args, err := s.args()
	if err != nil {
		return err
	}
	// Only the latest MiB is kept: a long test must not grow it without bound.
	log := &logbuf.Buffer{Max: 1 << 20}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		if err := ping(s.Addr()); err == nil {
			break
		}
		select {
		case <-done:
			return fmt.Errorf("%s on port %d exited at start:\n%s", s.bin, s.port, log.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s on port %d did not answer PING within %s:\n%s", s.bin, s.port, startTimeout, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.done, s.log = cmd, done, log
	s.mu.Unlock()
	return nil
}

// args are the command line of the process: a redis-server's settings, or
// a sentinel's configuration file (written on the first start; the
// sentinel keeps what it learnt in it across restarts).
func (s *Server) args() ([]string, error) {
	if s.cfg.sentinelConf != "" {
		path := filepath.Join(s.dir, "sentinel.conf")
		if _, err := os.Stat(path); err != nil {
			conf := fmt.Sprintf("bind 127.0.0.1\ndaemonize no\nlogfile \"\"\ndir %s\n%s", s.dir, s.cfg.sentinelConf)
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				return nil, err
			}
		}
		// The port on the command line wins over the file's, so a retry
		// on another free port needs no new file.
		args := []string{path, "--port", strconv.Itoa(s.port)}
		if filepath.Base(s.bin) == "redis-server" {
			args = append(args, "--sentinel")
		}
		return args, nil
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--save", "",
		"--logfile", "",
	}
	if s.cfg.persistent {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.cfg.replicaOf != "" {
		host, port, _ := strings.Cut(s.cfg.replicaOf, ":")
		args = append(args, "--replicaof", host, port)
	}
	if s.cfg.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	}
	return args, nil
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	// A paused process dies from SIGKILL too.
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.tb.Fatalf("redistest: signal %v: server is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: signal %v: %v", sig, err)
	}
}

// Log is what the server printed so far (for failure messages).
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// ping speaks just enough RESP to learn whether the server answers.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		// e.g. "-LOADING Redis is loading the dataset in memory"
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
