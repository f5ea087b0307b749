package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	"github.com/waitingroom/waitingroom/internal/testutil/swarmtest"
)

// swarmService creates a sleeping (0 replicas) service of the plain test
// image, publishing its port on a free loopback-reachable host port, and
// returns it with that port.
func swarmService(t testing.TB) (*client.Client, swarmtest.Service, int) {
	t.Helper()
	cli := swarms.Require(t)
	_, images := dockerImages.Images(t)
	port := proc.FreePort(t)
	svc := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: images.Plain, Replicas: 0, PublishPort: port})
	return cli, svc, port
}

// swarmConfig is a swarm provider and one host, svc.test, for the service;
// extra goes before providers:, hostExtra at the end of the host.
func swarmConfig(svc swarmtest.Service, extra, hostExtra string) string {
	return fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
scheduler:
  sweep_interval: 500ms
  reconcile_interval: 2s
%sproviders:
  swarm: {}
hosts:
  - host: svc.test
    provider: swarm
    service: %s
    idle_timeout: 4s
    start_timeout: 90s
%s`, extra, svc.Name, hostExtra)
}

// replicasOf reads a service's replicas and remembered-replicas label.
func replicasOf(t *testing.T, cli *client.Client, id string) (uint64, string) {
	t.Helper()
	s, _, err := cli.ServiceInspectWithRaw(context.Background(), id, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatalf("inspect service: %v", err)
	}
	return *s.Spec.Mode.Replicated.Replicas, s.Spec.Labels["waitingroom.replicas"]
}

// The binary wakes a Swarm service over HTTP (0 → 1 replica, ready when its
// task runs and its published port answers), hears a `docker service scale
// =0` made behind its back, and scales it to 0 again when it is idle,
// remembering its replicas.
func TestSwarmWakeThroughBinary(t *testing.T) {
	cli, svc, port := swarmService(t)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), swarmConfig(svc, "", fmt.Sprintf("    ready_url: http://127.0.0.1:%d/\n", port)))
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "svc.test") == "stopped" }, "not reconciled as stopped")

	started := time.Now()
	crowd(t, []*proc.Waitingroom{w}, "svc.test", 50)
	proc.Eventually(t, 90*time.Second, func() bool { return status(t, w, "svc.test") == "running" }, "service never running")
	t.Logf("request → running (task running, ready_url answering) through the binary: %s", time.Since(started).Round(time.Millisecond))
	if n, _ := replicasOf(t, cli, svc.ID); n != 1 {
		t.Fatalf("replicas %d after the wake, want 1", n)
	}

	// Scaled to 0 behind waitingroom's back: the event stream says so.
	if err := swarmtest.Scale(context.Background(), cli, svc.ID, 0); err != nil {
		t.Fatalf("scale to 0 by hand: %v", err)
	}
	proc.Eventually(t, 30*time.Second, func() bool { return status(t, w, "svc.test") == "stopped" }, "external scale to 0 not seen")

	// Wake again, then leave it idle: the sweep scales it to 0.
	wake(t, w, "svc.test")
	proc.Eventually(t, 90*time.Second, func() bool { return status(t, w, "svc.test") == "running" }, "second wake never running")
	proc.Eventually(t, 60*time.Second, func() bool { return status(t, w, "svc.test") == "stopped" }, "idle service never scaled to 0")
	if n, label := replicasOf(t, cli, svc.ID); n != 0 || label != "1" {
		t.Fatalf("after the idle stop: replicas %d, waitingroom.replicas=%q; want 0 and 1", n, label)
	}
}

// scaleUps follows the engine's events for one service from now on and
// counts the updates that scaled it up from 0 (the engine puts the old and
// new replicas on a service's update event).
func scaleUps(ctx context.Context, cli *client.Client, id string) func() int {
	f := filters.NewArgs(filters.Arg("type", string(events.ServiceEventType)), filters.Arg("service", id))
	return dockertest.CountEvents(ctx, cli, f, func(m events.Message) bool {
		old, _ := strconv.Atoi(m.Actor.Attributes["replicas.old"])
		now, _ := strconv.Atoi(m.Actor.Attributes["replicas.new"])
		return m.Action == events.ActionUpdate && old == 0 && now > 0
	})
}

// Three replicas on one Redis: a crowd of 1,000 requests spread across them
// scales the service up exactly once; the idle sweep scales it down.
func TestSwarmStampedeThreeReplicasOneScaleUp(t *testing.T) {
	cli, svc, port := swarmService(t)
	rs := redistest.Start(t)
	cfg := swarmConfig(svc, fmt.Sprintf("store:\n  redis_url: %q\n", rs.URL()), fmt.Sprintf("    ready_url: http://127.0.0.1:%d/\n", port))
	ws := replicas(t, 3, cfg)
	for _, w := range ws {
		proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "svc.test") == "stopped" }, "not reconciled")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ups := scaleUps(ctx, cli, svc.ID)

	const n = 1000
	crowd(t, ws, "svc.test", n)
	for i, w := range ws {
		proc.Eventually(t, 90*time.Second, func() bool { return status(t, w, "svc.test") == "running" }, fmt.Sprintf("replica %d never running", i))
	}
	proc.Eventually(t, 10*time.Second, func() bool { return ups() >= 1 }, "the engine's scale-up event")
	// The idle stop comes after any second scale-up there could have
	// been: once it is seen, the count is final.
	proc.Eventually(t, 60*time.Second, func() bool { return status(t, ws[0], "svc.test") == "stopped" }, "never scaled down as idle")
	if n := ups(); n != 1 {
		t.Fatalf("%d scale-ups from 0 across 3 replicas for %d requests, want 1", n, 1000)
	}
	// And waitingroom's own count: one wake ran, on one replica.
	wakes := wakesRun(t, ws, "svc.test")
	if wakes != 1 {
		t.Fatalf("%d wakes ran across 3 replicas (waitingroom_wakes_total), want 1", wakes)
	}
	t.Logf("scale-ups per %d-request stampede across 3 replicas: %d (wakes run: %d)", n, ups(), wakes)
}

// wakesRun sums the replicas' waitingroom_wakes_total for host (every
// result), from their admin /metrics: the wakes they ran.
func wakesRun(t testing.TB, ws []*proc.Waitingroom, host string) int {
	t.Helper()
	n := 0
	for _, w := range ws {
		n += wakesTotal(t, w, host)
	}
	return n
}

func wakesTotal(t testing.TB, w *proc.Waitingroom, host string) int {
	t.Helper()
	resp, err := http.Get(w.Admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d %v", resp.StatusCode, err)
	}
	n := 0
	prefix := `waitingroom_wakes_total{host="` + host + `"`
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}
