package e2e

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	provexec "github.com/waitingroom/waitingroom/providers/exec"
	"github.com/waitingroom/waitingroom/store/memory"
)

// A running exec backend killed behind waitingroom's back is out of
// running as soon as the first request that finds it gone calls Recheck
// (what the public listener does), not at the next reconcile: stopped when
// its status command can tell, failed naming ready_url otherwise. This runs
// the controller with the real exec provider and the real demo backend
// process; the public listener's call of Recheck is tested with the web
// package.
func TestRecheckNoticesKilledExecBackend(t *testing.T) {
	tests := []struct {
		name       string
		status     bool // the host has a status command
		want       controller.State
		wantReason string
	}{
		{"with a status command", true, controller.StateStopped, "stopped outside waitingroom"},
		{"without a status command", false, controller.StateFailed, "not ready: ready_url "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemoHost(t, "killed.test", 0, "1m")
			cmds := map[string][]string{
				"start": {bins.DemoBackend, "start", "--addr", strings.TrimPrefix(d.url(), "http://"), "--pidfile", d.pidfile()},
				"stop":  {bins.DemoBackend, "stop", "--pidfile", d.pidfile()},
			}
			if tc.status {
				cmds["status"] = []string{bins.DemoBackend, "status", "--pidfile", d.pidfile()}
			}
			h := controller.Host{
				Name: d.name, Provider: "exec", ReadyURL: d.url() + "/healthz",
				Target:      controller.Target{Host: d.name, Provider: "exec", Backend: provexec.Target{Start: cmds["start"], Stop: cmds["stop"], Status: cmds["status"]}},
				IdleTimeout: time.Hour, StartTimeout: 30 * time.Second,
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			st := memory.New(nil)
			ctrl := controller.New(controller.Options{
				Store: st, Logger: log,
				// Each run's Recheck must check (the default allows one a second).
				RecheckInterval: time.Millisecond,
				Registry: controller.NewRegistry([]controller.Host{h}, map[string]controller.Provider{
					"exec": provexec.New(provexec.Options{Logger: log}),
				}),
			})
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ctrl.Shutdown(ctx)
				_ = st.Close()
			})
			ctx := context.Background()
			state := func() controller.Record {
				_, rec, err := ctrl.Status(ctx, d.name)
				if err != nil {
					t.Fatal(err)
				}
				return rec
			}
			var took []time.Duration
			maxCalls := 0
			for run := 0; run < 5; run++ {
				if _, err := ctrl.Wake(ctx, d.name, controller.Client{Source: "test"}); err != nil {
					t.Fatal(err)
				}
				for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
					last := state()
					if last.State == controller.StateRunning {
						break
					}
					if time.Now().After(end) {
						t.Fatalf("run %d: never running after 30s: %+v", run+1, last)
					}
				}
				if err := syscall.Kill(pidOf(t, d), syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				proc.Eventually(t, 5*time.Second, func() bool { return !d.processAlive() }, "daemon still alive")
				// Requests finding the backend gone, each calling Recheck
				// (the first may land while the wake's job still winds
				// down, which Recheck leaves alone).
				began := time.Now()
				calls := 0
				proc.Eventually(t, 5*time.Second, func() bool {
					calls++
					if err := ctrl.Recheck(ctx, d.name); err != nil {
						t.Fatal(err)
					}
					return state().State != controller.StateRunning
				}, "Recheck never noticed the backend gone")
				took = append(took, time.Since(began))
				maxCalls = max(maxCalls, calls)
				rec := state()
				if rec.State != tc.want || !strings.HasPrefix(rec.Reason, tc.wantReason) {
					t.Fatalf("run %d: after Recheck %s %q, want %s %q…", run, rec.State, rec.Reason, tc.want, tc.wantReason)
				}
			}
			t.Logf("backend killed → requests' Recheck → %s: median %s (%v); at most %d Recheck calls", tc.want, median(took).Round(time.Millisecond), took, maxCalls)
		})
	}
}
