package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/internal/testutil/podmantest"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

// The Docker provider, unchanged, against Podman's Docker-compatible API
// (providers.NAME.host: podman's socket): the binary wakes a Podman
// container over HTTP (ready when {internal_ip}:8080 answers — Podman runs
// no HEALTHCHECK without systemd), hears a stop made behind its back through
// Podman's event stream, and stops the container again when it is idle.
func TestPodmanWakeThroughBinary(t *testing.T) {
	pm := podmantest.Start(t)
	cli := pm.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	images, err := dockertest.BuildImages(ctx, cli)
	if err != nil {
		t.Fatalf("building the test images in podman: %v", err)
	}
	t.Cleanup(func() {
		if err := images.Remove(context.Background(), cli); err != nil {
			t.Errorf("removing the podman test images: %v", err)
		}
	})
	c := dockertest.Create(t, cli, dockertest.Spec{Image: images.Plain})

	cfg := fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
scheduler:
  sweep_interval: 500ms
providers:
  podman:
    type: docker
    host: %s
    stop_timeout: 2s
hosts:
  - host: box.test
    provider: podman
    container: %s
    ready_url: http://{internal_ip}:8080/
    idle_timeout: 4s
    start_timeout: 60s
`, pm.Host, c.Name)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "box.test") == "stopped" }, "not reconciled as stopped")

	started := time.Now()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c := wake(t, w, "box.test"); c != http.StatusServiceUnavailable {
				t.Errorf("status %d", c)
			}
		}()
	}
	wg.Wait()
	proc.Eventually(t, 60*time.Second, func() bool { return status(t, w, "box.test") == "running" }, "container never running")
	t.Logf("request → running (ready_url answering) through the binary, podman: %s", time.Since(started).Round(time.Millisecond))

	// Stopped behind waitingroom's back: Podman's event stream says so.
	timeout := 1
	if err := cli.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatalf("stop through podman: %v", err)
	}
	proc.Eventually(t, 5*time.Second, func() bool { return status(t, w, "box.test") == "stopped" }, "external stop not seen")

	// Wake again, then leave it idle: the sweep stops it.
	wake(t, w, "box.test")
	proc.Eventually(t, 60*time.Second, func() bool { return status(t, w, "box.test") == "running" }, "second wake never running")
	proc.Eventually(t, 30*time.Second, func() bool { return status(t, w, "box.test") == "stopped" }, "idle container never stopped")
	ins, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil || ins.State.Running {
		t.Fatalf("container still running after the idle stop: %v", err)
	}
}
