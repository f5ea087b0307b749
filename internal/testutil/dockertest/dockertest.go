// Package dockertest gives tests a real Docker engine without a registry:
// it builds tiny images FROM scratch around a static test server compiled by
// the test (testserver), creates a network and containers per test, and
// removes every container, network and image it made, also when the test
// fails. Everything it creates carries the label com.waitingroom.test
// (outside the waitingroom.* namespace, which label discovery reads
// strictly), so the leftovers of a killed run are found with
//
//	docker ps -a --filter label=com.waitingroom.test
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/controller"
)

// Label marks every object this package creates.
const Label = "com.waitingroom.test"

// ServerPort is the port the test server listens on inside its container.
const ServerPort = "8080"

// serverPkg is the test server's import path, built with CGO_ENABLED=0 so
// it runs in an image with nothing else in it.
const serverPkg = "github.com/waitingroom/waitingroom/internal/testutil/dockertest/testserver"

// Connect returns a client for the engine of DOCKER_HOST (or the local
// socket) after checking that it answers.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine at %s: %w", cli.DaemonHost(), err)
	}
	return cli, nil
}

// InCI reports whether the tests run in CI (CI=true), where a missing
// dependency fails instead of skipping.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

// Require connects to the engine, or ends the test: it fails under CI=true
// and skips, saying how to get an engine, otherwise. The client is closed
// when the test ends.
func Require(t testing.TB) *client.Client {
	t.Helper()
	cli, err := Connect(context.Background())
	if err != nil {
		Unavailable(t, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Unavailable ends a test that needs a dependency it cannot have: t.Fatal
// under CI=true, t.Skip with how to install it otherwise.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("docker engine not reachable: %v\n"+
		"install and start it (Debian: apt-get install docker.io docker-compose; the daemon must run), "+
		"or point DOCKER_HOST at one", err)
	if InCI() {
		t.Fatal(msg + " (CI=true: failing instead of skipping)")
	}
	t.Skip(msg)
}

// Name returns a fresh name with the given prefix, unique across runs.
func Name(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Images are the test images, both FROM scratch around testserver.
type Images struct {
	// Plain has no HEALTHCHECK: running means ready.
	Plain string
	// Health has a HEALTHCHECK on /healthz (every 250ms, a 2s start
	// period, unhealthy after 2 failures), so it is "starting" until the
	// server answers 200 there.
	Health string
}

// dockerfiles of the test images; FROM scratch needs no registry.
const (
	plainDockerfile = `FROM scratch
COPY server /server
EXPOSE 8080
ENTRYPOINT ["/server"]
`
	healthDockerfile = plainDockerfile + `HEALTHCHECK --interval=250ms --timeout=2s --start-period=2s --retries=2 CMD ["/server", "-check", "http://127.0.0.1:8080/healthz"]
`
)

// BuildImages compiles testserver and builds the images under unique tags.
// The caller removes them with Remove.
func BuildImages(ctx context.Context, cli *client.Client) (*Images, error) {
	dir, err := os.MkdirTemp("", "dockertest-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "server")
	if err := GoBuildStatic(ctx, serverPkg, bin); err != nil {
		return nil, err
	}
	server, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	repo := Name("waitingroom-test")
	im := &Images{Plain: repo + ":plain", Health: repo + ":health"}
	for _, b := range []struct{ tag, dockerfile string }{
		{im.Plain, plainDockerfile},
		{im.Health, healthDockerfile},
	} {
		buildCtx, err := tarFiles(map[string][]byte{"Dockerfile": []byte(b.dockerfile)}, map[string][]byte{"server": server})
		if err != nil {
			return nil, err
		}
		if err := BuildImage(ctx, cli, buildCtx, b.tag); err != nil {
			_ = im.Remove(context.WithoutCancel(ctx), cli)
			return nil, err
		}
	}
	return im, nil
}

// Remove deletes the images.
func (im *Images) Remove(ctx context.Context, cli *client.Client) error {
	var errs []error
	for _, tag := range []string{im.Plain, im.Health} {
		_, err := cli.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", tag, err))
		}
	}
	return errors.Join(errs...)
}

// GoBuildStatic builds a Go package into a static linux binary at out.
func GoBuildStatic(ctx context.Context, pkg, out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is needed to build %s: %w", pkg, err)
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// tarFiles makes a build context: text files (mode 0644) and executables
// (mode 0755).
func tarFiles(files, executables map[string][]byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, body []byte, mode int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), ModTime: time.Now()}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	for name, body := range files {
		if err := add(name, body, 0o644); err != nil {
			return nil, err
		}
	}
	for name, body := range executables {
		if err := add(name, body, 0o755); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// BuildImage builds a tar build context with the classic builder (the one
// every engine has) and tags the result. Build errors reported inside the
// stream are returned.
func BuildImage(ctx context.Context, cli *client.Client, buildCtx io.Reader, tag string) error {
	resp, err := cli.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
		PullParent:  false,
		Labels:      map[string]string{Label: "1"},
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", tag, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var log strings.Builder
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("build %s: reading output: %w", tag, err)
		}
		log.WriteString(msg.Stream)
		if msg.Error != "" {
			return fmt.Errorf("build %s: %s\n%s", tag, msg.Error, log.String())
		}
	}
}

// Shared builds the images once per test binary and removes them when the
// package's tests are done: declare one in the test package, call Images in
// tests and Close from TestMain after m.Run.
type Shared struct {
	mu     sync.Mutex
	built  bool
	images *Images
	err    error
}

// Images returns the shared images, building them on first use. It ends the
// test (skip or fail, see Require) when there is no engine.
func (s *Shared) Images(t testing.TB) (*client.Client, *Images) {
	t.Helper()
	cli := Require(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.built {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		s.images, s.err = BuildImages(ctx, cli)
		cancel()
		s.built = true
	}
	if s.err != nil {
		t.Fatalf("building the test images: %v", s.err)
	}
	return cli, s.images
}

// Close removes the images if they were built.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := Connect(ctx)
	if err != nil {
		return fmt.Errorf("removing test images %s, %s: %w", s.images.Plain, s.images.Health, err)
	}
	defer cli.Close()
	err = s.images.Remove(ctx, cli)
	s.images = nil
	return err
}

// Network creates a bridge network for this test and removes it at the end
// (after the test's containers, which t.Cleanup removes first).
func Network(t testing.TB, cli *client.Client) string {
	t.Helper()
	name := Name("wrtest-net")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: map[string]string{Label: "1"}}); err != nil {
		t.Fatalf("create network %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.NetworkRemove(ctx, name); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove network %s: %v", name, err)
		}
	})
	return name
}

// Spec describes a test container.
type Spec struct {
	Image   string
	Name    string // default: a fresh wrtest-… name
	Network string // default: the engine's default bridge
	Env     []string
	Labels  map[string]string
	// StopSignal replaces SIGTERM as the container's stop signal.
	StopSignal string
	// Restart is a restart policy name: "", "always", "on-failure", ...
	Restart string
	// Start starts the container after creating it.
	Start bool
}

// Container is a created test container.
type Container struct {
	ID, Name string
}

// Create creates (and with Spec.Start starts) a container, removed with its
// volumes when the test ends, whatever state it is in then.
func Create(t testing.TB, cli *client.Client, s Spec) Container {
	t.Helper()
	if s.Name == "" {
		s.Name = Name("wrtest")
	}
	labels := map[string]string{Label: "1"}
	for k, v := range s.Labels {
		labels[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.ContainerCreate(ctx,
		&container.Config{Image: s.Image, Env: s.Env, Labels: labels, StopSignal: s.StopSignal},
		&container.HostConfig{
			NetworkMode:   container.NetworkMode(s.Network),
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(s.Restart)},
		},
		nil, nil, s.Name)
	if err != nil {
		t.Fatalf("create container %s from %s: %v", s.Name, s.Image, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove container %s: %v", s.Name, err)
		}
	})
	if s.Start {
		if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
			t.Fatalf("start container %s: %v", s.Name, err)
		}
	}
	return Container{ID: resp.ID, Name: s.Name}
}

// Eventually polls cond every 20ms until it holds or timeout passes, then
// fails the test with cond's last words.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, last string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)", what, timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CountEvents follows the engine's events matching f from the start of the
// current second on, until ctx is done, and counts those match accepts.
// Since, so that an event the engine emits before the subscription is
// established is not missed; whole seconds, which Docker and Podman parse
// alike. A stream rather than a since/until query of the history: Podman
// (4.3) answers a query bounded by until with no events at all.
func CountEvents(ctx context.Context, cli *client.Client, f filters.Args, match func(events.Message) bool) (count func() int) {
	since := strconv.FormatInt(time.Now().Unix(), 10)
	msgs, errs := cli.Events(ctx, events.ListOptions{Since: since, Filters: f})
	var n atomic.Int32
	go func() {
		for {
			select {
			case m := <-msgs:
				if match(m) {
					n.Add(1)
				}
			case <-errs:
				return
			}
		}
	}()
	return func() int { return int(n.Load()) }
}

// WaitState polls a provider's Status of tg until it reports want, and
// returns that Status.
func WaitState(t testing.TB, status func(context.Context, controller.Target) (controller.Status, error), tg controller.Target, want controller.State, timeout time.Duration) controller.Status {
	t.Helper()
	var got controller.Status
	Eventually(t, timeout, fmt.Sprintf("%s (%s) becomes %s", tg.Host, tg.Backend, want), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := status(ctx, tg)
		got = st
		if err != nil {
			return false, err.Error()
		}
		return st.State == want, fmt.Sprintf("%s (%s)", st.State, st.Reason)
	})
	return got
}
