package gce_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/providers/gce"
	"github.com/waitingroom/waitingroom/providers/gce/gcetest"
)

// TestTransitions drives every start and sleep path from every status it
// can begin in, checking the statuses the VM went through and the calls
// that reached the API.
func TestTransitions(t *testing.T) {
	type counts struct{ start, stop, suspend, resume int }
	cases := []struct {
		name    string
		initial string
		op      string // "start" or "stop"
		sleep   string
		want    []string // statuses after the initial one
		calls   counts
	}{
		{"start terminated", "TERMINATED", "start", "", []string{"STAGING", "RUNNING"}, counts{start: 1}},
		{"start stopped (legacy STOPPED)", "STOPPED", "start", "", []string{"STAGING", "RUNNING"}, counts{start: 1}},
		{"start running is a no-op", "RUNNING", "start", "", nil, counts{}},
		{"start while staging waits", "STAGING", "start", "", []string{"RUNNING"}, counts{}},
		{"start while provisioning waits", "PROVISIONING", "start", "", []string{"RUNNING"}, counts{}},
		{"start while repairing waits", "REPAIRING", "start", "", []string{"RUNNING"}, counts{}},
		{"start while stopping waits then starts", "STOPPING", "start", "", []string{"TERMINATED", "STAGING", "RUNNING"}, counts{start: 1}},
		{"start suspended resumes", "SUSPENDED", "start", "", []string{"STAGING", "RUNNING"}, counts{resume: 1}},
		{"start while suspending waits then resumes", "SUSPENDING", "start", "", []string{"SUSPENDED", "STAGING", "RUNNING"}, counts{resume: 1}},
		{"stop running", "RUNNING", "stop", "stop", []string{"STOPPING", "TERMINATED"}, counts{stop: 1}},
		{"stop staging", "STAGING", "stop", "stop", []string{"STOPPING", "TERMINATED"}, counts{stop: 1}},
		{"stop terminated is a no-op", "TERMINATED", "stop", "stop", nil, counts{}},
		{"stop suspended is a no-op", "SUSPENDED", "stop", "stop", nil, counts{}},
		{"stop while stopping waits", "STOPPING", "stop", "stop", []string{"TERMINATED"}, counts{}},
		{"suspend running", "RUNNING", "stop", "suspend", []string{"SUSPENDING", "SUSPENDED"}, counts{suspend: 1}},
		{"suspend staging waits for running", "STAGING", "stop", "suspend", []string{"RUNNING", "SUSPENDING", "SUSPENDED"}, counts{suspend: 1}},
		{"suspend suspended is a no-op", "SUSPENDED", "stop", "suspend", nil, counts{}},
		{"suspend terminated is a no-op", "TERMINATED", "stop", "suspend", nil, counts{}},
		{"suspend while suspending waits", "SUSPENDING", "stop", "suspend", []string{"SUSPENDED"}, counts{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Steps long enough that a transitional initial status (STAGING)
			// is still there when the call arrives on a loaded machine: at
			// the default 20ms "stop staging" saw RUNNING first.
			srv := gcetest.NewServer(t, gcetest.WithStepDelay(250*time.Millisecond))
			srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm", Status: tc.initial})
			p := newProvider(t, srv)
			tg := target("vm")
			tg.Sleep = tc.sleep
			ctx := testCtx(t, 10*time.Second)
			var err error
			if tc.op == "start" {
				err = p.Start(ctx, tg)
			} else {
				err = p.Stop(ctx, tg)
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.op, err)
			}
			got := srv.History(project, zone, "vm")[1:]
			if !slices.Equal(got, tc.want) {
				t.Errorf("statuses after %s = %v, want %v", tc.initial, got, tc.want)
			}
			gotCalls := counts{
				srv.Count(gcetest.MethodStart), srv.Count(gcetest.MethodStop),
				srv.Count(gcetest.MethodSuspend), srv.Count(gcetest.MethodResume),
			}
			if gotCalls != tc.calls {
				t.Errorf("calls = %+v, want %+v", gotCalls, tc.calls)
			}
		})
	}
}

// TestStatusMapping checks how every GCE status reads as a controller
// state; unknown statuses are failed with the raw status shown.
func TestStatusMapping(t *testing.T) {
	// Steps of an hour keep transitional statuses where the test put them.
	srv := gcetest.NewServer(t, gcetest.WithStepDelay(time.Hour))
	p := newProvider(t, srv)
	cases := []struct {
		raw  string
		want controller.State
	}{
		{"PROVISIONING", controller.StateStarting},
		{"STAGING", controller.StateStarting},
		{"REPAIRING", controller.StateStarting},
		{"RUNNING", controller.StateRunning},
		{"STOPPING", controller.StateStopping},
		{"SUSPENDING", controller.StateStopping},
		{"TERMINATED", controller.StateStopped},
		{"STOPPED", controller.StateStopped},
		{"SUSPENDED", controller.StateStopped},
		{"PENDING_STOP", controller.StateFailed},
	}
	for i, tc := range cases {
		name := "vm-" + strings.ToLower(strings.ReplaceAll(tc.raw, "_", "-"))
		srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: name, Status: tc.raw})
		st, err := p.Status(testCtx(t, 5*time.Second), target(name))
		if err != nil {
			t.Fatalf("case %d: Status(%s): %v", i, tc.raw, err)
		}
		if st.State != tc.want {
			t.Errorf("%s → %s, want %s", tc.raw, st.State, tc.want)
		}
		if tc.want == controller.StateFailed && !strings.Contains(st.Reason, tc.raw) {
			t.Errorf("%s: reason %q does not show the raw status", tc.raw, st.Reason)
		}
	}
}

func TestStartWhileStoppingWaitsThenStarts(t *testing.T) {
	srv := gcetest.NewServer(t, gcetest.WithStepDelay(150*time.Millisecond))
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm", Status: "RUNNING"})
	p := newProvider(t, srv)
	ctx := testCtx(t, 10*time.Second)
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(ctx, target("vm")) }()
	poll.Until(t, 5*time.Second, "the VM to be STOPPING", func() bool { return status(t, srv, "vm") == "STOPPING" })
	if err := p.Start(ctx, target("vm")); err != nil {
		t.Fatalf("Start while stopping: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := status(t, srv, "vm"); got != "RUNNING" {
		t.Fatalf("status = %s, want RUNNING", got)
	}
	if n := srv.Count(gcetest.MethodStart); n != 1 {
		t.Fatalf("start requests = %d, want 1 (after the stop settled)", n)
	}
}

func TestSleepSuspendResumesAndNeverStarts(t *testing.T) {
	for _, tc := range []struct {
		name          string
		providerSleep string
		hostSleep     string
	}{
		{"host says suspend", "", "suspend"},
		{"provider says suspend", "suspend", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := gcetest.NewServer(t)
			srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm", Status: "RUNNING"})
			p := newProvider(t, srv, func(o *gce.Options) { o.Sleep = tc.providerSleep })
			tg := target("vm")
			tg.Sleep = tc.hostSleep
			ctx := testCtx(t, 10*time.Second)
			for i := range 2 {
				if err := p.Stop(ctx, tg); err != nil {
					t.Fatalf("round %d: suspend: %v", i, err)
				}
				if got := status(t, srv, "vm"); got != "SUSPENDED" {
					t.Fatalf("round %d: after sleep: %s, want SUSPENDED", i, got)
				}
				if err := p.Start(ctx, tg); err != nil {
					t.Fatalf("round %d: resume: %v", i, err)
				}
			}
			if s, r, st, sp := srv.Count(gcetest.MethodSuspend), srv.Count(gcetest.MethodResume),
				srv.Count(gcetest.MethodStart), srv.Count(gcetest.MethodStop); s != 2 || r != 2 || st != 0 || sp != 0 {
				t.Fatalf("suspend=%d resume=%d start=%d stop=%d; want 2, 2, 0, 0", s, r, st, sp)
			}
		})
	}
}

func TestHostSleepStopOverridesProviderSuspend(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm", Status: "RUNNING"})
	p := newProvider(t, srv, func(o *gce.Options) { o.Sleep = gce.SleepSuspend })
	tg := target("vm")
	tg.Sleep = gce.SleepStop
	if err := p.Stop(testCtx(t, 10*time.Second), tg); err != nil {
		t.Fatal(err)
	}
	if got := status(t, srv, "vm"); got != "TERMINATED" {
		t.Fatalf("status = %s, want TERMINATED", got)
	}
}

func TestContextCancelledMidWait(t *testing.T) {
	// Operations stay PENDING for a minute: the wake can only end by the
	// caller giving up.
	srv := gcetest.NewServer(t, gcetest.WithStepDelay(time.Minute))
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm"})
	p := newProvider(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx, target("vm")) }()
	poll.Until(t, 5*time.Second, "the start request", func() bool { return srv.Count(gcetest.MethodStart) == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if !strings.Contains(err.Error(), "still TERMINATED") {
			t.Fatalf("err %q does not say where the VM was", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return within 5s of cancellation")
	}
}

func TestStartTimeoutSaysWhereTheVMWas(t *testing.T) {
	srv := gcetest.NewServer(t, gcetest.WithStepDelay(time.Minute))
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm"})
	p := newProvider(t, srv)
	err := p.Start(testCtx(t, 300*time.Millisecond), target("vm"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestHungRequestIsRetried(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm"})
	srv.Inject(gcetest.Fault{Method: gcetest.MethodGet, Hang: true})
	p := newProvider(t, srv, func(o *gce.Options) { o.CallTimeout = 200 * time.Millisecond })
	if err := p.Start(testCtx(t, 10*time.Second), target("vm")); err != nil {
		t.Fatalf("Start after a hung read: %v", err)
	}
}

func TestStartAgainAfterOutsideStop(t *testing.T) {
	// A VM stopped behind our back is simply started on the next wake.
	srv := gcetest.NewServer(t, gcetest.WithStepDelay(30*time.Millisecond))
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm", Status: "STOPPING"})
	p := newProvider(t, srv)
	if err := p.Start(testCtx(t, 10*time.Second), target("vm")); err != nil {
		t.Fatal(err)
	}
	srv.SetStatus(project, zone, "vm", "STOPPING")
	if err := p.Start(testCtx(t, 10*time.Second), target("vm")); err != nil {
		t.Fatal(err)
	}
	if n := srv.Count(gcetest.MethodStart); n != 2 {
		t.Fatalf("start requests = %d, want 2", n)
	}
}

func TestStartOfUnknownStatusFailsWithIt(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm", Status: "PENDING_STOP"})
	p := newProvider(t, srv)
	err := p.Start(testCtx(t, 5*time.Second), target("vm"))
	if err == nil || !strings.Contains(err.Error(), `is in status "PENDING_STOP", which waitingroom does not handle`) {
		t.Fatalf("err = %v", err)
	}
}
