package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/internal/testutil/podmantest"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
)

// podmanContainer starts a Podman API service, builds the test images in
// it and creates a stopped container of the plain one; all of it is removed
// when the test ends.
func podmanContainer(t testing.TB) (*podmantest.Service, *client.Client, dockertest.Container) {
	t.Helper()
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
	return pm, cli, dockertest.Create(t, cli, dockertest.Spec{Image: images.Plain})
}

// podmanConfig is a docker provider on podman's socket and one host,
// box.test, for container c; extra goes before providers:, hostExtra at the
// end of the host.
func podmanConfig(pm *podmantest.Service, c dockertest.Container, extra, hostExtra string) string {
	return fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
scheduler:
  sweep_interval: 500ms
%sproviders:
  podman:
    type: docker
    host: %s
    stop_timeout: 2s
hosts:
  - host: box.test
    provider: podman
    container: %s
    idle_timeout: 4s
    start_timeout: 60s
%s`, extra, pm.Host, c.Name, hostExtra)
}

// The Docker provider, unchanged, against Podman's Docker-compatible API
// (providers.NAME.host: podman's socket): the binary wakes a Podman
// container over HTTP (ready when {internal_ip}:8080 answers — Podman runs
// no HEALTHCHECK without systemd), hears a stop made behind its back through
// Podman's event stream, and stops the container again when it is idle.
func TestPodmanWakeThroughBinary(t *testing.T) {
	pm, cli, c := podmanContainer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := podmanConfig(pm, c, "", "    ready_url: http://{internal_ip}:8080/\n")
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "box.test") == "stopped" }, "not reconciled as stopped")

	started := time.Now()
	crowd(t, []*proc.Waitingroom{w}, "box.test", 50)
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

// Three replicas on one Redis in front of a Podman container: 1,000
// requests spread across them start it exactly once (Podman's start events,
// and waitingroom_wakes_total).
func TestPodmanStampedeThreeReplicasOneStart(t *testing.T) {
	pm, cli, c := podmanContainer(t)
	rs := redistest.Start(t)
	ws := replicas(t, 3, podmanConfig(pm, c, fmt.Sprintf("store:\n  redis_url: %q\n", rs.URL()), ""))
	for _, w := range ws {
		proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "box.test") == "stopped" }, "not reconciled")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	starts := dockertest.CountEvents(ctx, cli, filters.NewArgs(filters.Arg("container", c.ID)), func(m events.Message) bool {
		return m.Type == events.ContainerEventType && m.Action == events.ActionStart
	})

	const n = 1000
	crowd(t, ws, "box.test", n)
	for i, w := range ws {
		proc.Eventually(t, 60*time.Second, func() bool { return status(t, w, "box.test") == "running" }, fmt.Sprintf("replica %d never running", i))
	}
	proc.Eventually(t, 10*time.Second, func() bool { return starts() >= 1 }, "podman's start event")
	proc.Eventually(t, 60*time.Second, func() bool { return status(t, ws[0], "box.test") == "stopped" }, "never stopped as idle")
	if got := starts(); got != 1 {
		t.Fatalf("podman started the container %d times for %d requests across 3 replicas, want 1", got, n)
	}
	if wakes := wakesRun(t, ws, "box.test"); wakes != 1 {
		t.Fatalf("%d wakes ran across 3 replicas (waitingroom_wakes_total), want 1", wakes)
	}
	t.Logf("container starts per %d-request stampede across 3 replicas, podman: %d", n, starts())
}
