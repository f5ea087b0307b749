package gce_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers/gce"
	"github.com/waitingroom/waitingroom/providers/gce/gcetest"
)

// TestErrors covers each error a user meets: the message (what the page, the
// log and /readyz show), its class, and whether the wake still succeeds.
func TestErrors(t *testing.T) {
	cases := []struct {
		name     string
		instance string // default "vm", which exists
		op       string // "start" (default) or "stop"
		faults   []gcetest.Fault
		wantOK   bool
		wantIs   []error
		wantMsg  []string
		calls    map[string]int
	}{
		{
			name: "not found", instance: "no-such-vm",
			wantIs:  []error{gce.ErrNotFound},
			wantMsg: []string{`GCE instance "no-such-vm" not found in project "test-project" zone "europe-west1-b": check instance/zone in the config`},
		},
		{
			name:    "permission denied on start",
			faults:  []gcetest.Fault{{Method: gcetest.MethodStart, HTTPStatus: 403}},
			wantIs:  []error{gce.ErrPermissionDenied},
			wantMsg: []string{"lack compute.instances.start on projects/test-project/zones/europe-west1-b/instances/vm"},
		},
		{
			name:    "permission denied on get",
			faults:  []gcetest.Fault{{Method: gcetest.MethodGet, HTTPStatus: 403}},
			wantIs:  []error{gce.ErrPermissionDenied},
			wantMsg: []string{"lack compute.instances.get"},
		},
		{
			name: "permission denied on stop", op: "stop",
			faults:  []gcetest.Fault{{Method: gcetest.MethodStop, HTTPStatus: 403}},
			wantIs:  []error{gce.ErrPermissionDenied},
			wantMsg: []string{"lack compute.instances.stop"},
		},
		{
			name:    "permission denied on operations",
			faults:  []gcetest.Fault{{Method: gcetest.MethodOperationGet, HTTPStatus: 403}},
			wantIs:  []error{gce.ErrPermissionDenied},
			wantMsg: []string{"lack compute.zoneOperations.get"},
		},
		{
			name:    "credentials rejected",
			faults:  []gcetest.Fault{{Method: gcetest.MethodGet, HTTPStatus: 401}},
			wantIs:  []error{gce.ErrUnauthenticated},
			wantMsg: []string{"rejected the credentials (401)"},
		},
		{
			name:   "rate limited then success",
			faults: []gcetest.Fault{{Method: gcetest.MethodStart, HTTPStatus: 429, Times: 2}},
			wantOK: true,
			calls:  map[string]int{gcetest.MethodStart: 3},
		},
		{
			name:   "legacy 403 rate limit then success",
			faults: []gcetest.Fault{{Method: gcetest.MethodGet, HTTPStatus: 403, Reason: "rateLimitExceeded", Message: "Rate Limit Exceeded", Times: 2}},
			wantOK: true,
		},
		{
			name:   "5xx on reads and operations then success",
			faults: []gcetest.Fault{{Method: gcetest.MethodGet, HTTPStatus: 500}, {Method: gcetest.MethodOperationGet, HTTPStatus: 502, Times: 2}, {Method: gcetest.MethodGet, HTTPStatus: 503}},
			wantOK: true,
		},
		{
			name:   "operation gone: the instance's status decides",
			faults: []gcetest.Fault{{Method: gcetest.MethodOperationGet, HTTPStatus: 404, Times: 100}},
			wantOK: true,
		},
		{
			name:    "rate limited for good",
			faults:  []gcetest.Fault{{Method: gcetest.MethodStart, HTTPStatus: 429, Times: 100}},
			wantIs:  []error{controller.ErrUnavailable},
			wantMsg: []string{"GCE API unavailable (HTTP 429 on start", "gave up after 4 attempts"},
			calls:   map[string]int{gcetest.MethodStart: 4},
		},
		{
			name:    "operation ends with an error",
			faults:  []gcetest.Fault{{Method: gcetest.MethodStart, OperationError: "QUOTA_EXCEEDED", Message: "Quota 'CPUS' exceeded.  Limit: 8.0 in region europe-west1."}},
			wantIs:  []error{gce.ErrOperationFailed},
			wantMsg: []string{`GCE start of instance "vm" (project "test-project", zone "europe-west1-b") failed: QUOTA_EXCEEDED: Quota 'CPUS' exceeded.`},
		},
		{
			name: "suspend not supported", op: "suspend",
			faults:  []gcetest.Fault{{Method: gcetest.MethodSuspend, OperationError: "UNSUPPORTED_OPERATION", Message: "Instances with GPUs cannot be suspended."}},
			wantIs:  []error{gce.ErrOperationFailed},
			wantMsg: []string{"UNSUPPORTED_OPERATION: Instances with GPUs cannot be suspended.", "set sleep: stop"},
		},
		{
			name:   "zone exhausted then capacity returns",
			faults: []gcetest.Fault{{Method: gcetest.MethodStart, OperationError: gcetest.ZoneResourcePoolExhausted, Times: 3}},
			wantOK: true,
			calls:  map[string]int{gcetest.MethodStart: 4},
		},
		{
			name:   "zone exhausted as 503 then capacity returns",
			faults: []gcetest.Fault{{Method: gcetest.MethodStart, HTTPStatus: 503, Reason: gcetest.ZoneResourcePoolExhausted, Times: 2}},
			wantOK: true,
			calls:  map[string]int{gcetest.MethodStart: 3},
		},
		{
			name:    "zone exhausted until start_timeout",
			faults:  []gcetest.Fault{{Method: gcetest.MethodStart, OperationError: gcetest.ZoneResourcePoolExhausted, Times: 1000}},
			wantIs:  []error{gce.ErrZoneExhausted, controller.ErrUnavailable},
			wantMsg: []string{`GCE zone "europe-west1-b" had no capacity for instance "vm" of project "test-project" (ZONE_RESOURCE_POOL_EXHAUSTED); kept retrying`, "ZONE_RESOURCE_POOL_EXHAUSTED", "kept retrying", "move the VM to another zone"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := gcetest.NewServer(t)
			initial := "TERMINATED"
			if tc.op != "" && tc.op != "start" {
				initial = "RUNNING"
			}
			srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm", Status: initial})
			for _, f := range tc.faults {
				srv.Inject(f)
			}
			p := newProvider(t, srv)
			name := tc.instance
			if name == "" {
				name = "vm"
			}
			tg := target(name)
			// The exhausted zone never recovers: the wake ends at its
			// timeout, which must be the caller's.
			ctx := testCtx(t, 10*time.Second)
			if tc.name == "zone exhausted until start_timeout" {
				ctx = testCtx(t, 600*time.Millisecond)
			}
			var err error
			switch tc.op {
			case "", "start":
				err = p.Start(ctx, tg)
			case "stop":
				err = p.Stop(ctx, tg)
			case "suspend":
				tg.Sleep = gce.SleepSuspend
				err = p.Stop(ctx, tg)
			}
			t.Logf("user sees: %v", err)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
			} else if err == nil {
				t.Fatal("want an error, got success")
			}
			for _, want := range tc.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("errors.Is(%v, %v) = false", err, want)
				}
			}
			for _, want := range tc.wantMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q\ndoes not contain %q", err, want)
				}
			}
			for method, n := range tc.calls {
				if got := srv.Count(method); got != n {
					t.Errorf("%s requests = %d, want %d", method, got, n)
				}
			}
		})
	}
}

func TestStatusOfMissingInstanceIsFailedWithReason(t *testing.T) {
	srv := gcetest.NewServer(t)
	p := newProvider(t, srv)
	st, err := p.Status(testCtx(t, 5*time.Second), target("ghost"))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.State != controller.StateFailed || !strings.Contains(st.Reason, "check instance/zone in the config") {
		t.Fatalf("status = %+v, want failed with the not-found message", st)
	}
}

func TestCheckReportsPermissionProblemsUntilACallSucceeds(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm"})
	p := newProvider(t, srv)
	ctx := testCtx(t, 10*time.Second)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check before any call: %v", err)
	}
	srv.Inject(gcetest.Fault{Method: gcetest.MethodStart, HTTPStatus: http.StatusForbidden})
	if err := p.Start(ctx, target("vm")); !errors.Is(err, gce.ErrPermissionDenied) {
		t.Fatalf("Start: %v, want permission denied", err)
	}
	err := p.Check(ctx)
	if !errors.Is(err, gce.ErrPermissionDenied) || !strings.Contains(err.Error(), "compute.instances.start") {
		t.Fatalf("Check = %v, want the missing permission", err)
	}
	if err := p.Start(ctx, target("vm")); err != nil {
		t.Fatalf("Start once permitted: %v", err)
	}
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check after success: %v", err)
	}
}

func TestCheckIgnoresConfigProblemsOfOneHost(t *testing.T) {
	srv := gcetest.NewServer(t)
	p := newProvider(t, srv)
	ctx := testCtx(t, 5*time.Second)
	_ = p.Start(ctx, target("ghost"))
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check after a 404: %v (a missing VM is that host's problem, shown on its page)", err)
	}
}

func TestUnreachableAPIIsUnavailable(t *testing.T) {
	srv := gcetest.NewServer(t)
	p := newProvider(t, srv)
	srv.Close()
	err := p.Start(testCtx(t, 10*time.Second), target("vm"))
	if !errors.Is(err, controller.ErrUnavailable) || !strings.Contains(err.Error(), "GCE API unreachable") {
		t.Fatalf("err = %v, want unavailable/unreachable", err)
	}
	if err := p.Check(testCtx(t, time.Second)); !errors.Is(err, controller.ErrUnavailable) {
		t.Fatalf("Check = %v, want unavailable", err)
	}
}

// A provider replaced by a configuration reload is closed (providers.Set)
// while a wake may still be using it. The REST client drops its HTTP client
// on Close, so a later call would dereference nil and take the process
// down; it must be an error the wake reports instead.
func TestCallsAfterCloseFailInsteadOfPanicking(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm"})
	p := newProvider(t, srv)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := testCtx(t, 10*time.Second)
	if _, err := p.Status(ctx, target("vm")); !errors.Is(err, controller.ErrUnavailable) {
		t.Fatalf("Status after Close: %v, want ErrUnavailable", err)
	}
	if err := p.Start(ctx, target("vm")); !errors.Is(err, controller.ErrUnavailable) {
		t.Fatalf("Start after Close: %v, want ErrUnavailable", err)
	}
}
