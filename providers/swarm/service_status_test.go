package swarm

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/swarmtest"
)

// A wake whose tasks cannot run fails with the manager's reason instead of
// waiting out start_timeout: an image no node has (rejected), a process
// that exits (failed), a constraint no node meets (pending, no suitable
// node).
func TestStatusFailsWithTheTaskReason(t *testing.T) {
	cli, im := engine(t)
	p := newTestProvider(t, Options{})
	tests := []struct {
		name string
		spec swarmtest.Spec
		want string
	}{
		// A registry on a closed loopback port: the pull fails at once,
		// without leaving the machine.
		{"missing image", swarmtest.Spec{Image: "127.0.0.1:1/wrtest-missing:none"}, "rejected"},
		{"exits", swarmtest.Spec{Image: im.Plain, Args: []string{"-check", "http://127.0.0.1:1/"}}, "failed"},
		{"no suitable node", swarmtest.Spec{Image: im.Plain, Constraints: []string{"node.labels.wrtest-nowhere==1"}}, "no suitable node"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := swarmtest.CreateService(t, cli, tc.spec)
			tg := target(svc.Name)
			if err := p.Start(ctxT(t, 30*time.Second), tg); err != nil {
				t.Fatalf("Start: %v", err)
			}
			st := waitState(t, p, tg, controller.StateFailed, 90*time.Second)
			if !strings.Contains(st.Reason, tc.want) || !strings.Contains(st.Reason, svc.Name+".1") {
				t.Fatalf("reason %q, want the task %s.1 and %q", st.Reason, svc.Name, tc.want)
			}
			t.Logf("reason: %s", st.Reason)
		})
	}
}

func TestStatusOf(t *testing.T) {
	scaled := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	svc := func(replicas uint64) swarm.Service {
		s := swarm.Service{Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "app"},
			Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}}}}
		s.UpdatedAt = scaled
		return s
	}
	task := func(slot int, desired, state swarm.TaskState, errMsg string, created time.Time) swarm.Task {
		tk := swarm.Task{ID: "t" + string(rune('0'+slot)), Slot: slot, DesiredState: desired, Status: swarm.TaskStatus{State: state, Err: errMsg}}
		tk.CreatedAt = created
		return tk
	}
	after, before := scaled.Add(time.Second), scaled.Add(-time.Hour)
	run, shut := swarm.TaskStateRunning, swarm.TaskStateShutdown
	tests := []struct {
		name   string
		svc    swarm.Service
		tasks  []swarm.Task
		want   controller.State
		reason string
	}{
		{"asleep", svc(0), nil, controller.StateStopped, `"app" is scaled to 0`},
		{"winding down", svc(0), []swarm.Task{task(1, shut, run, "", before)}, controller.StateStopping, "1 task(s) still running"},
		{"all running", svc(2), []swarm.Task{task(1, run, run, "", after), task(2, run, run, "", after)}, controller.StateRunning, ""},
		{"one of two", svc(2), []swarm.Task{task(1, run, run, "", after), task(2, run, swarm.TaskStatePreparing, "", after)}, controller.StateStarting, "1 of 2 tasks running; task app.2 preparing"},
		{"rejected now", svc(1), []swarm.Task{task(1, shut, swarm.TaskStateRejected, "No such image: x", after)}, controller.StateFailed, "task app.1 rejected: No such image: x"},
		{"rejected in an earlier wake", svc(1), []swarm.Task{task(1, run, swarm.TaskStateAssigned, "", after), task(1, shut, swarm.TaskStateRejected, "No such image: x", before)}, controller.StateStarting, "0 of 1 tasks running; task app.1 assigned"},
		{"unschedulable", svc(1), []swarm.Task{task(1, run, swarm.TaskStatePending, "no suitable node (1 node not available)", after)}, controller.StateFailed, "pending: no suitable node"},
		{"port still held by the previous task", svc(1), []swarm.Task{task(1, run, swarm.TaskStatePending, "no suitable node (host-mode port already in use on 1 node)", after)}, controller.StateStarting, "0 of 1 tasks running; task app.1 pending: no suitable node (host-mode port"},
		{"replaced after a failure", svc(1), []swarm.Task{task(1, shut, swarm.TaskStateFailed, "task: non-zero exit (1)", after), task(1, run, run, "", after.Add(time.Second))}, controller.StateRunning, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := statusOf(tc.svc, tc.tasks)
			if got.State != tc.want || !strings.Contains(got.Reason, tc.reason) || (tc.reason == "" && got.Reason != "") {
				t.Fatalf("statusOf = %s %q, want %s %q", got.State, got.Reason, tc.want, tc.reason)
			}
		})
	}
}
