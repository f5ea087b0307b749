package docker

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/podmantest"
)

// podmanSkips are the tests of this package that cannot pass on Podman here,
// and why:
//   - health checks: Podman runs a container's HEALTHCHECK from systemd
//     timers; without systemd (this sandbox, most CI containers) it logs
//     "unable to get systemd connection to add healthchecks: dial unix
//     /run/systemd/private: connect: no such file or directory" and the
//     container stays "health: starting" for ever. The tests that wait for
//     a healthy container are left out; docs/providers.md says to use
//     ready_url with Podman instead.
//   - TestDockerfileLocalBuilds builds the release image with the docker
//     CLI, not through the provider.
//   - TestDockerProviderOnPodman itself.
const podmanSkips = "TestDockerProviderOnPodman|TestDockerfileLocalBuilds|" +
	"TestPauseSleep/with_a_health_check|TestStopStoppedPausedContainer|TestStopSignalAndGracePeriod|" +
	"TestStatusWithHealthcheck/(starting|unhealthy)|TestWatchObservesChangesMadeOutside"

// TestDockerProviderOnPodman runs this package's tests, unchanged, against
// Podman's Docker-compatible API (`podman system service`, started here):
// start and stop idempotent, pause, a crash loop failed, 500 concurrent
// wakes starting the container once, label discovery, the event stream
// followed and resubscribed after a break. Under CI=true a missing podman
// fails the test.
func TestDockerProviderOnPodman(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the package's tests again against podman")
	}
	svc := podmantest.Start(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command runs the tests against podman: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-v", "-skip", podmanSkips, ".")
	cmd.Env = append(svc.Env(), "GOFLAGS=") // no -race etc. from the parent: the child only needs to pass
	if dir, err := os.Getwd(); err == nil {
		cmd.Dir = dir
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the Docker provider's tests against podman at %s: %v\n%s", svc.Host, err, out)
	}
	var passed []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--- PASS") {
			passed = append(passed, strings.TrimSpace(line))
		}
	}
	t.Logf("against podman at %s:\n%s", svc.Host, strings.Join(passed, "\n"))
}
