// Package podmantest runs Podman's Docker-compatible API for a test:
// `podman system service` on a socket of its own, stopped when the test
// ends. Containers and images the test creates through it are the test's to
// remove (dockertest's helpers do).
package podmantest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
)

// Service is a running `podman system service`.
type Service struct {
	// Host is its address for DOCKER_HOST or a provider's host setting.
	Host string
	// Conf is the containers.conf it runs with (CONTAINERS_CONF): give it
	// to podman commands the test runs.
	Conf string
	cmd  *exec.Cmd
}

// Start starts the service, or ends the test when podman is missing: it
// fails under CI=true and skips, saying how to install it, otherwise.
//
// Podman asks the OCI runtime for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576
// in every container; where the process may not raise its hard limits (no
// CAP_SYS_RESOURCE, as in this project's CI sandbox) runc refuses with
// "error setting rlimits for ready process: error setting rlimit type 7:
// operation not permitted". The service therefore runs with a
// containers.conf whose default_ulimits are the limits the service itself
// has — what a container can inherit — read from a first start.
func Start(t testing.TB) *Service {
	t.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		msg := fmt.Sprintf("podman not found: %v\ninstall it (Debian: apt-get install podman)", err)
		if dockertest.InCI() {
			t.Fatal(msg + " (CI=true: failing instead of skipping)")
		}
		t.Skip(msg)
	}
	dir, err := os.MkdirTemp("", "podmantest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Service{Host: "unix://" + filepath.Join(dir, "podman.sock"), Conf: filepath.Join(dir, "containers.conf")}
	if err := os.WriteFile(s.Conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.start(bin); err != nil {
		t.Fatal(err)
	}
	nofile, nproc, err := hardLimits(s.cmd.Process.Pid)
	s.stop()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("[containers]\ndefault_ulimits = [\"nofile=%s:%s\", \"nproc=%s:%s\"]\n", nofile, nofile, nproc, nproc)
	if err := os.WriteFile(s.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.start(bin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// Env is the environment for a podman command or a Docker client aimed at
// the service.
func (s *Service) Env() []string {
	return append(os.Environ(), "DOCKER_HOST="+s.Host, "CONTAINERS_CONF="+s.Conf)
}

// Client is a Docker API client for the service, closed when the test ends.
func (s *Service) Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.WithHost(s.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func (s *Service) start(bin string) error {
	cmd := exec.Command(bin, "system", "service", "--time=0", s.Host)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+s.Conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("podman system service: %w", err)
	}
	s.cmd = cmd
	cli, err := client.NewClientWithOpts(client.WithHost(s.Host), client.WithAPIVersionNegotiation())
	if err != nil {
		s.stop()
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Ping(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("podman system service on %s did not answer within 30s: %v\n%s", s.Host, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Service) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// hardLimits reads a process's hard RLIMIT_NOFILE and RLIMIT_NPROC.
func hardLimits(pid int) (nofile, nproc string, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) < 4 {
			continue
		}
		switch {
		case strings.HasPrefix(line, "Max open files"):
			nofile = fields[4]
		case strings.HasPrefix(line, "Max processes"):
			nproc = fields[3]
		}
	}
	for _, v := range []*string{&nofile, &nproc} {
		if *v == "unlimited" {
			*v = "-1" // podman: the maximum the process may have
		}
	}
	if nofile == "" || nproc == "" {
		return "", "", fmt.Errorf("/proc/%d/limits: no open files or processes limit", pid)
	}
	return nofile, nproc, sc.Err()
}
