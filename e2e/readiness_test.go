package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

// hostStatus is a host's state and reason as operators see them (the admin
// API); the public page keeps failure reasons to itself.
func hostStatus(t *testing.T, w *proc.Waitingroom, host string) (state, reason string) {
	t.Helper()
	h := adminHost(t, w, host)
	return h.State, h.Reason
}

// median of durations (the upper one of the middle two).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// A container that dies during its wake fails that wake within moments,
// naming the exit, instead of showing "waking up" until start_timeout
// (60 s here): killed while booting, or crashing at once on start.
func TestContainerDyingDuringWakeFailsTheWake(t *testing.T) {
	cli, images := dockerImages.Images(t)
	netName := dockertest.Network(t, cli)
	const runs = 3
	type box struct {
		host string
		c    dockertest.Container
	}
	var booting []box
	hosts := ""
	for i := 0; i < runs; i++ {
		// Never ready within the test: /healthz answers 503 for 10 min.
		c := dockertest.Create(t, cli, dockertest.Spec{Image: images.Plain, Network: netName, Env: []string{"HEALTHY_AFTER=10m"}})
		booting = append(booting, box{fmt.Sprintf("boot%d.test", i), c})
	}
	crash := dockertest.Create(t, cli, dockertest.Spec{Image: images.Plain, Network: netName, Env: []string{"EXIT_CODE=3"}})
	for _, b := range append(slices.Clone(booting), box{"crash.test", crash}) {
		hosts += fmt.Sprintf(`
  - host: %s
    provider: docker
    container: %s
    ready_url: http://{internal_ip}:8080/healthz
    start_timeout: 60s
`, b.host, b.c.Name)
	}
	cfg := fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
providers:
  docker:
    network: %s
hosts:%s`, netName, hosts)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)

	t.Run("crashing on start", func(t *testing.T) {
		began := time.Now()
		wake(t, w, "crash.test")
		proc.Eventually(t, 15*time.Second, func() bool { s, _ := hostStatus(t, w, "crash.test"); return s == "failed" }, "crashing container's wake never failed")
		_, reason := hostStatus(t, w, "crash.test")
		want := fmt.Sprintf("container %q exited with code 3 during its wake", crash.Name)
		if reason != want {
			t.Fatalf("reason %q, want %q", reason, want)
		}
		t.Logf("request → wake failed (container exits with code 3 at once): %s", time.Since(began).Round(time.Millisecond))
	})

	t.Run("killed while booting", func(t *testing.T) {
		var took, afterKill []time.Duration
		for _, b := range booting {
			wake(t, w, b.host)
			proc.Eventually(t, 30*time.Second, func() bool {
				ins, err := cli.ContainerInspect(context.Background(), b.c.ID)
				return err == nil && ins.State.Running
			}, "%s never started", b.c.Name)
			if s, _ := hostStatus(t, w, b.host); s != "starting" {
				t.Fatalf("%s: state %q while the container boots, want starting", b.host, s)
			}
			began := time.Now()
			if out, err := exec.Command("docker", "kill", b.c.Name).CombinedOutput(); err != nil {
				t.Fatalf("docker kill: %v\n%s", err, out)
			}
			killed := time.Now()
			proc.Eventually(t, 15*time.Second, func() bool { s, _ := hostStatus(t, w, b.host); return s == "failed" }, "%s: wake never failed", b.host)
			took = append(took, time.Since(began))
			afterKill = append(afterKill, time.Since(killed))
			_, reason := hostStatus(t, w, b.host)
			want := fmt.Sprintf("container %q exited with code 137 during its wake", b.c.Name)
			if reason != want {
				t.Fatalf("reason %q, want %q", reason, want)
			}
		}
		t.Logf("docker kill during the wake → wake failed: median %s over %d runs (%v); from the kill command's return: median %s",
			median(took).Round(time.Millisecond), runs, took, median(afterKill).Round(time.Millisecond))
	})
}

// A running container killed behind waitingroom's back is stopped within
// moments (the engine's die event), with the exit in the reason.
func TestKilledRunningContainerIsStoppedAtOnce(t *testing.T) {
	cli, images := dockerImages.Images(t)
	netName := dockertest.Network(t, cli)
	c := dockertest.Create(t, cli, dockertest.Spec{Image: images.Plain, Network: netName})
	cfg := fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
providers:
  docker:
    network: %s
hosts:
  - host: box.test
    provider: docker
    container: %s
    ready_url: http://{internal_ip}:8080/healthz
    start_timeout: 60s
`, netName, c.Name)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	var took []time.Duration
	for i := 0; i < 3; i++ {
		wake(t, w, "box.test")
		proc.Eventually(t, 30*time.Second, func() bool { s, _ := hostStatus(t, w, "box.test"); return s == "running" }, "never running")
		if out, err := exec.Command("docker", "kill", c.Name).CombinedOutput(); err != nil {
			t.Fatalf("docker kill: %v\n%s", err, out)
		}
		killed := time.Now() // the engine has killed it when the command returns
		proc.Eventually(t, 5*time.Second, func() bool { s, _ := hostStatus(t, w, "box.test"); return s == "stopped" }, "kill not seen")
		took = append(took, time.Since(killed))
		// The page shows no reason for stopped; the log does.
		if want := fmt.Sprintf(`to=stopped reason="stopped outside waitingroom: container \"%s\" exited with code 137"`, c.Name); strings.Count(w.Output(), want) != i+1 {
			t.Fatalf("the log does not say %s", want)
		}
	}
	t.Logf("docker kill (returned) of a running container → stopped: median %s (%v)", median(took).Round(time.Millisecond), took)
}

// A backend whose process is up but whose ready_url answers 500 is never
// called running: its wake fails at start_timeout naming the answer, and
// the reconciles that follow (every 200 ms here) leave it failed with its
// backoff. Once it answers, the next reconcile finds it running.
func TestBrokenBackendIsNeverRunningAcrossReconciles(t *testing.T) {
	var healthy atomic.Bool
	var probes atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		probes.Add(1)
		if !healthy.Load() {
			http.Error(rw, "database unreachable", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(backend.Close)
	cfg := fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
scheduler:
  sweep_interval: 500ms
  reconcile_interval: 200ms
providers:
  exec: {}
hosts:
  - host: broken.test
    provider: exec
    start: ["/bin/true"]
    stop: ["/bin/true"]
    status: ["/bin/true"]
    ready_url: %s/healthz
    start_timeout: 1s
`, backend.URL)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	// The first reconcile finds the process up but not answering: it
	// follows it to start_timeout, then failed.
	proc.Eventually(t, 15*time.Second, func() bool { s, _ := hostStatus(t, w, "broken.test"); return s == "failed" }, "never failed")
	_, reason := hostStatus(t, w, "broken.test")
	if want := "ready_url " + backend.URL + "/healthz answered 500"; !strings.Contains(reason, want) {
		t.Fatalf("reason %q, want it to contain %q", reason, want)
	}
	before := probes.Load()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if s, r := hostStatus(t, w, "broken.test"); s != "failed" {
			t.Fatalf("state %q (%s) after a reconcile, want failed", s, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	reconciled := probes.Load() - before
	if reconciled < 3 {
		t.Fatalf("only %d readiness probes in 3 s: the reconciles did not look at the backend", reconciled)
	}
	t.Logf("broken backend: failed throughout %d reconcile probes over 3 s", reconciled)
	healthy.Store(true)
	proc.Eventually(t, 5*time.Second, func() bool { s, _ := hostStatus(t, w, "broken.test"); return s == "running" }, "repaired backend never found running")
}

// An exec backend whose daemon dies during its wake (its status command
// said running, then stopped) fails the wake at once instead of at
// start_timeout.
func TestExecDaemonDyingDuringWakeFailsTheWake(t *testing.T) {
	d := newDemoHost(t, "dies.test", 10*time.Minute, "1m") // boots for 10 min: never ready here
	// The rule under test needs the wake to have seen the daemon up: the
	// status command leaves a mark once it has told waitingroom "running"
	// (a fixed sleep raced the wake's next look on a loaded machine).
	seen := filepath.Join(t.TempDir(), "seen-up")
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	plain := fmt.Sprintf(`status: [%s, "status", "--pidfile", %s]`, q(bins.DemoBackend), q(d.pidfile()))
	marking := fmt.Sprintf(`status: ["/bin/sh", "-c", %s, %s, %s, %s]`,
		q(`"$0" status --pidfile "$1" && echo up >>"$2"`), q(bins.DemoBackend), q(d.pidfile()), q(seen))
	hostYAML := strings.Replace(d.yaml(), plain, marking, 1)
	if hostYAML == d.yaml() {
		t.Fatalf("no status command to replace in %s", d.yaml())
	}
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+"hosts:"+hostYAML)
	wake(t, w, "dies.test")
	// Twice: the first "running" may have been another caller's look (a
	// reconcile), not the wake's own; the wake polls every 50-200 ms.
	proc.Eventually(t, 15*time.Second, func() bool { return countLines(seen) >= 2 }, "the wake never saw the daemon up")
	if s, _ := hostStatus(t, w, "dies.test"); s != "starting" {
		t.Fatalf("state %q while the daemon boots, want starting", s)
	}
	began := time.Now()
	if err := syscall.Kill(pidOf(t, d), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proc.Eventually(t, 10*time.Second, func() bool { s, _ := hostStatus(t, w, "dies.test"); return s == "failed" }, "wake never failed")
	_, reason := hostStatus(t, w, "dies.test")
	if reason != "the backend stopped during its wake" {
		t.Fatalf("reason %q", reason)
	}
	t.Logf("exec daemon killed during its wake → wake failed: %s", time.Since(began).Round(time.Millisecond))
}

func pidOf(t *testing.T, d *demoHost) int {
	t.Helper()
	var pid int
	proc.Eventually(t, 5*time.Second, func() bool {
		b, err := os.ReadFile(d.pidfile())
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err == nil && pid > 0
	}, "no pid file")
	return pid
}
