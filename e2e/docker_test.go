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

// A container created with waitingroom.* labels after the process started
// is served without a reload (label rediscovery, every 15 s), with the
// file's defaults; before, labels were read only at start and on reload.
func TestLabelledContainerIsDiscoveredWithoutReload(t *testing.T) {
	cli, images := dockerImages.Images(t)
	netName := dockertest.Network(t, cli)
	cfg := fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
providers:
  docker:
    network: %s
    labels: true
`, netName)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	host := dockertest.Name("labelled") + ".test"
	if got := status(t, w, host); got != "" {
		t.Fatalf("status of a host nobody registered yet: %q", got)
	}
	began := time.Now()
	dockertest.Create(t, cli, dockertest.Spec{Image: images.Health, Network: netName,
		Labels: map[string]string{"waitingroom.host": host}})
	// The rediscovery interval (15 s) and the first reconcile after it.
	proc.Eventually(t, 40*time.Second, func() bool { return status(t, w, host) == "stopped" }, "labelled container never registered")
	t.Logf("labelled container served %s after it was created", time.Since(began).Round(time.Millisecond))
}
