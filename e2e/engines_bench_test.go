package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/internal/testutil/swarmtest"
)

// wakeRounds is how many cold wakes each median is taken over.
const wakeRounds = 10

// noBudget lifts the wake budgets (a host: 6 an hour by default): the
// benchmark wakes one more often than that, from one client.
const noBudget = "budgets:\n  max_wakes_per_day: 1000\n  max_wakes_per_hour: 1000\n  client_wakes_per_hour: 1000\n  prefix_wakes_per_hour: 1000\n"

// BenchmarkEngineWake measures, for a Docker Swarm service and a Podman
// container, request → backend ready through the binary (the median of 10
// cold wakes: the first request until the page's event stream says
// running; no ready_url, so ready is the engine saying it runs) beside the
// engine's own floor (the median of 10: the scale or start call, then
// asking the engine every 5 ms until the task or container runs, nothing
// else; measured before waitingroom runs), and their ratio. Between rounds
// the backend is put back to sleep by hand, untimed.
//
//	go test -run '^$' -bench EngineWake -benchtime 1x -timeout 30m ./e2e/
func BenchmarkEngineWake(b *testing.B) {
	b.Run("swarm", func(b *testing.B) {
		cli, svc, _ := swarmService(b)
		ctx := context.Background()
		floor := rounds(b, func() time.Duration {
			began := time.Now()
			if err := swarmtest.Scale(ctx, cli, svc.ID, 1); err != nil {
				b.Fatal(err)
			}
			proc.Eventually(b, 90*time.Second, func() bool { return runningTasks(b, cli, svc.ID) == 1 }, "task running")
			took := time.Since(began)
			if err := swarmtest.Scale(ctx, cli, svc.ID, 0); err != nil {
				b.Fatal(err)
			}
			proc.Eventually(b, 60*time.Second, func() bool { return runningTasks(b, cli, svc.ID) == 0 }, "tasks gone")
			return took
		})
		w := proc.StartWaitingroom(b, bins, b.TempDir(), swarmConfig(svc, noBudget, ""))
		binary := throughBinary(b, w, "svc.test", func() {
			if err := swarmtest.Scale(ctx, cli, svc.ID, 0); err != nil {
				b.Fatal(err)
			}
			// As the floor's rounds do: waitingroom records a stop by
			// hand as stopped at once (the stopping is not its own), while
			// the task still holds its host-mode port for about 1.4 s; a
			// wake then waits "pending: host-mode port already in use".
			proc.Eventually(b, 60*time.Second, func() bool { return runningTasks(b, cli, svc.ID) == 0 }, "tasks gone")
		})
		report(b, binary, floor)
	})
	b.Run("podman", func(b *testing.B) {
		pm, cli, c := podmanContainer(b)
		ctx := context.Background()
		stop := func() {
			timeout := 1
			if err := cli.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &timeout}); err != nil {
				b.Fatal(err)
			}
		}
		floor := rounds(b, func() time.Duration {
			began := time.Now()
			if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
				b.Fatal(err)
			}
			proc.Eventually(b, 60*time.Second, func() bool {
				ins, err := cli.ContainerInspect(ctx, c.ID)
				return err == nil && ins.State.Running
			}, "container running")
			took := time.Since(began)
			stop()
			return took
		})
		w := proc.StartWaitingroom(b, bins, b.TempDir(), podmanConfig(pm, c, noBudget, ""))
		report(b, throughBinary(b, w, "box.test", stop), floor)
	})
}

// throughBinary wakes host through w wakeRounds times from stopped, timing
// the first request until the page's event stream says running; sleep puts
// the backend back to sleep by hand.
func throughBinary(b *testing.B, w *proc.Waitingroom, host string, sleep func()) []time.Duration {
	is := func(want string) func() bool { return func() bool { return status(b, w, host) == want } }
	proc.Eventually(b, 30*time.Second, is("stopped"), "not reconciled as stopped")
	return rounds(b, func() time.Duration {
		began := time.Now()
		wake(b, w, host)
		// The page's status endpoint, asked every 5 ms (a page's event
		// stream is closed by the handoff once running, which makes it
		// awkward to reuse across rounds).
		poll.Every(b, 5*time.Millisecond, 2*time.Minute, host+" running", is("running"))
		took := time.Since(began)
		sleep()
		proc.Eventually(b, 60*time.Second, is("stopped"), "back to sleep")
		return took
	})
}

func rounds(b *testing.B, one func() time.Duration) []time.Duration {
	out := make([]time.Duration, wakeRounds)
	for i := range out {
		out[i] = one()
	}
	return out
}

func report(b *testing.B, binary, floor []time.Duration) {
	mb, mf := median(binary), median(floor)
	b.Logf("through the binary: median %s of %v", mb.Round(time.Millisecond), binary)
	b.Logf("engine floor:       median %s of %v", mf.Round(time.Millisecond), floor)
	b.ReportMetric(float64(mb.Microseconds())/1000, "wake-ms")
	b.ReportMetric(float64(mf.Microseconds())/1000, "floor-ms")
	b.ReportMetric(float64(mb)/float64(mf), "ratio")
}

// runningTasks counts the service's tasks that should run and do.
func runningTasks(b testing.TB, cli *client.Client, id string) int {
	tasks, err := cli.TaskList(context.Background(), swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", id))})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, t := range tasks {
		if t.Status.State == swarm.TaskStateRunning {
			n++
		}
	}
	return n
}
