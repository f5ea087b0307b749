package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

// The binary wakes a real container over HTTP, hears about a `docker stop`
// made behind its back, and stops the container again when it is idle.
func TestDockerWakeThroughBinary(t *testing.T) {
	cli, images := dockerImages.Images(t)
	netName := dockertest.Network(t, cli)
	c := dockertest.Create(t, cli, dockertest.Spec{Image: images.Health, Network: netName})

	cfg := fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
scheduler:
  sweep_interval: 500ms
providers:
  docker:
    network: %s
    stop_timeout: 2s
hosts:
  - host: box.test
    provider: docker
    container: %s
    idle_timeout: 4s
    start_timeout: 60s
`, netName, c.Name)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "box.test") == "stopped" }, "not reconciled as stopped")

	started := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
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
	t.Logf("request → running (healthy) through the binary: %s", time.Since(started).Round(time.Millisecond))
	ins, err := cli.ContainerInspect(context.Background(), c.ID)
	if err != nil || !ins.State.Running {
		t.Fatalf("container not running: %v", err)
	}

	// Stopped behind waitingroom's back: the event stream says so at once.
	if out, err := exec.Command("docker", "stop", "-t", "1", c.Name).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v\n%s", err, out)
	}
	proc.Eventually(t, 3*time.Second, func() bool { return status(t, w, "box.test") == "stopped" }, "external stop not seen")

	// Wake again, then leave it idle: the sweep stops it.
	wake(t, w, "box.test")
	proc.Eventually(t, 60*time.Second, func() bool { return status(t, w, "box.test") == "running" }, "second wake never running")
	proc.Eventually(t, 30*time.Second, func() bool { return status(t, w, "box.test") == "stopped" }, "idle container never stopped")
	ins, err = cli.ContainerInspect(context.Background(), c.ID)
	if err != nil || ins.State.Running {
		t.Fatalf("container still running after the idle stop: %v", err)
	}
}
