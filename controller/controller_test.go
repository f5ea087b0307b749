package controller_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/store/memory"
)

type env struct {
	ctrl  *controller.Controller
	store controller.Store
	prov  *fake.Provider
	clock controller.Clock
}

type envOpt func(*controller.Options, *controller.Host)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	p := &fake.Provider{}
	st := memory.New(nil)
	h := controller.Host{
		Name: "app.example.com", Provider: "fake",
		Target:      controller.Target{Host: "app.example.com", Provider: "fake"},
		IdleTimeout: time.Minute, StartTimeout: 5 * time.Second,
	}
	o := controller.Options{
		Store:  st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range opts {
		f(&o, &h)
	}
	o.Registry = controller.NewRegistry([]controller.Host{h}, map[string]controller.Provider{"fake": p})
	c := controller.New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	select {
	case <-c.Relaying():
	case <-time.After(5 * time.Second):
		t.Fatal("controller did not subscribe to the store's events")
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		c.Shutdown(sctx)
		cancel()
		<-done
		_ = st.Close()
	})
	clock := o.Clock
	if clock == nil {
		clock = controller.SystemClock{}
	}
	return &env{ctrl: c, store: st, prov: p, clock: clock}
}

func waitState(t *testing.T, c *controller.Controller, host string, want controller.State) controller.Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var rec controller.Record
	for time.Now().Before(deadline) {
		var err error
		_, rec, err = c.Status(context.Background(), host)
		if err == nil && rec.State == want {
			return rec
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: state %q (reason %q), want %q", host, rec.State, rec.Reason, want)
	return rec
}

func TestConcurrentWakesStartOnce(t *testing.T) {
	e := newEnv(t)
	e.prov.SetDelay(50 * time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := e.ctrl.Wake(context.Background(), "app.example.com", controller.Client{Source: "page"})
			if err != nil {
				t.Errorf("wake: %v", err)
				return
			}
			if rec.State != controller.StateStarting && rec.State != controller.StateRunning {
				t.Errorf("wake returned state %q", rec.State)
			}
		}()
	}
	wg.Wait()
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	if n := e.prov.Starts(); n != 1 {
		t.Fatalf("provider started %d times, want 1", n)
	}
	ws, err := e.store.Wakes(context.Background(), "app.example.com", 10)
	if err != nil || len(ws) != 1 || ws[0].Result != controller.WakeRunning {
		t.Fatalf("wake history = %+v, %v", ws, err)
	}
}

func TestWakeUnknownHostNeverReachesProvider(t *testing.T) {
	e := newEnv(t)
	for _, host := range []string{"", "nope.example.com", "APP.example.com", "app.example.com:80"} {
		_, err := e.ctrl.Wake(context.Background(), host, controller.Client{})
		if !errors.Is(err, controller.ErrUnknownHost) {
			t.Errorf("Wake(%q) error = %v, want ErrUnknownHost", host, err)
		}
	}
	if n := e.prov.Starts(); n != 0 {
		t.Fatalf("provider started %d times", n)
	}
}

func TestReadyURLProbedUntilAnswering(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, "/login", http.StatusFound) // 3xx counts as ready
	}))
	defer srv.Close()
	e := newEnv(t, func(_ *controller.Options, h *controller.Host) { h.ReadyURL = srv.URL + "/" })
	if _, err := e.ctrl.Wake(context.Background(), "app.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	// Not ready while the probe fails, however long we look.
	for i := 0; i < 20; i++ {
		if _, rec, _ := e.ctrl.Status(context.Background(), "app.example.com"); rec.State != controller.StateStarting {
			t.Fatalf("state %q before the backend answered", rec.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ready.Store(true)
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
}

func TestStartTimeoutFailsWithReasonThenBacksOff(t *testing.T) {
	e := newEnv(t, func(o *controller.Options, h *controller.Host) {
		h.StartTimeout = 200 * time.Millisecond
		o.RetryBase = time.Hour
	})
	e.prov.SetHang(true)
	if _, err := e.ctrl.Wake(context.Background(), "app.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	rec := waitState(t, e.ctrl, "app.example.com", controller.StateFailed)
	if rec.Reason == "" || rec.Failures != 1 || !rec.RetryAt.After(time.Now()) {
		t.Fatalf("failed record = %+v", rec)
	}
	// Within the backoff a wake does not call the provider again.
	rec, err := e.ctrl.Wake(context.Background(), "app.example.com", controller.Client{})
	if err != nil || rec.State != controller.StateFailed {
		t.Fatalf("wake in backoff = %+v, %v", rec, err)
	}
	if n := e.prov.Starts(); n != 1 {
		t.Fatalf("starts = %d, want 1", n)
	}
}

func TestFailingProviderRetriedAfterBackoff(t *testing.T) {
	e := newEnv(t, func(o *controller.Options, _ *controller.Host) {
		o.RetryBase = 20 * time.Millisecond
		o.RetryMax = 40 * time.Millisecond
	})
	e.prov.FailStarts(3)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rec, err := e.ctrl.Wake(context.Background(), "app.example.com", controller.Client{})
		if err != nil {
			t.Fatal(err)
		}
		if rec.State == controller.StateRunning {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rec := waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	if rec.Failures != 0 {
		t.Fatalf("failures not reset: %+v", rec)
	}
	if n := e.prov.Starts(); n != 4 {
		t.Fatalf("starts = %d, want 4 (3 failures, then success)", n)
	}
}

func TestWakeDuringStoppingEndsRunning(t *testing.T) {
	e := newEnv(t)
	releaseStop := e.prov.GateStops()
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	if _, err := e.ctrl.Stop(ctx, "app.example.com", "test"); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateStopping)
	rec, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{})
	if err != nil || !rec.WakePending {
		t.Fatalf("wake while stopping = %+v, %v", rec, err)
	}
	releaseStop()
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	if n := e.prov.Starts(); n != 2 {
		t.Fatalf("starts = %d, want 2", n)
	}
}

func TestSweepIdleStopsOnlyIdleRunningHosts(t *testing.T) {
	clock := fake.NewClock(time.Now())
	e := newEnv(t, func(o *controller.Options, _ *controller.Host) { o.Clock = clock })
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)

	clock.Advance(30 * time.Second)
	if err := e.ctrl.Touch(ctx, "app.example.com", "test"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(45 * time.Second) // 75 s since running, 45 s since activity
	if stopped, err := e.ctrl.SweepIdle(ctx); err != nil || len(stopped) != 0 {
		t.Fatalf("sweep stopped %v (err %v) although active 45 s ago", stopped, err)
	}
	clock.Advance(20 * time.Second)
	stopped, err := e.ctrl.SweepIdle(ctx)
	if err != nil || len(stopped) != 1 {
		t.Fatalf("sweep = %v, %v; want the host stopped", stopped, err)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateStopped)
	if n := e.prov.Stops(); n != 1 {
		t.Fatalf("stops = %d", n)
	}
}

func TestSweepNeverStopsStartingHost(t *testing.T) {
	clock := fake.NewClock(time.Now())
	e := newEnv(t, func(o *controller.Options, h *controller.Host) {
		o.Clock = clock
		h.StartTimeout = time.Hour
	})
	e.prov.SetHang(true)
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if stopped, _ := e.ctrl.SweepIdle(ctx); len(stopped) != 0 {
		t.Fatalf("sweep stopped a starting host: %v", stopped)
	}
	if _, err := e.ctrl.Stop(ctx, "app.example.com", "op"); !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("manual stop while starting = %v, want ErrConflict", err)
	}
}

type busyAlways struct{}

func (busyAlways) Busy(context.Context, controller.Host, time.Time) (bool, string) {
	return true, "stream open"
}

func TestBusyCheckerKeepsHostAwake(t *testing.T) {
	clock := fake.NewClock(time.Now())
	e := newEnv(t, func(o *controller.Options, _ *controller.Host) {
		o.Clock = clock
		o.Busy = []controller.BusyChecker{busyAlways{}}
	})
	ctx := context.Background()
	_, _ = e.ctrl.Wake(ctx, "app.example.com", controller.Client{})
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	clock.Advance(time.Hour)
	if stopped, _ := e.ctrl.SweepIdle(ctx); len(stopped) != 0 {
		t.Fatalf("busy host stopped: %v", stopped)
	}
}

func TestReconcileAdoptsAndNoticesExternalStops(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		provider controller.State
		want     controller.State
	}{
		{controller.StateStopped, controller.StateStopped}, // unknown → stopped at boot
		{controller.StateRunning, controller.StateRunning}, // started by hand → adopted
		{controller.StateStopped, controller.StateStopped}, // stopped by hand → stopped, not failed
		{controller.StateFailed, controller.StateFailed},   // broken → failed with reason
		{controller.StateRunning, controller.StateRunning}, // repaired → running
	}
	for i, tc := range cases {
		e.prov.SetState(tc.provider)
		e.prov.SetReason("because")
		if err := e.ctrl.Reconcile(ctx); err != nil {
			t.Fatalf("case %d: reconcile: %v", i, err)
		}
		rec := waitState(t, e.ctrl, "app.example.com", tc.want)
		if tc.want == controller.StateRunning && rec.ActivitySource == "" {
			t.Errorf("case %d: adopted host has no activity (idle timer not started)", i)
		}
	}
	if n := e.prov.Starts(); n != 0 {
		t.Fatalf("reconcile started the backend %d times", n)
	}
}

func TestReconcileTakesOverOrphanedWake(t *testing.T) {
	e := newEnv(t, func(o *controller.Options, _ *controller.Host) { o.LeaseTTL = 100 * time.Millisecond })
	ctx := context.Background()
	// A record left "starting" by a replica that died (its lease is gone).
	_, ok, err := e.store.CompareAndSwap(ctx, 0, controller.Record{
		Host: "app.example.com", State: controller.StateStarting, Changed: time.Now(), WakeID: "dead", Owner: "ghost",
	})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := e.ctrl.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	if n := e.prov.Starts(); n != 1 {
		t.Fatalf("starts = %d", n)
	}
}

func TestSubscribersSeeTransitions(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := e.ctrl.Subscribe(ctx, "app.example.com")
	if _, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	var seen []controller.State
	timeout := time.After(10 * time.Second)
	for len(seen) < 2 {
		select {
		case ev := <-events:
			seen = append(seen, ev.To)
		case <-timeout:
			t.Fatalf("events seen: %v", seen)
		}
	}
	if seen[0] != controller.StateStarting || seen[1] != controller.StateRunning {
		t.Fatalf("events = %v, want starting, running", seen)
	}
}

func TestEstimateIsMedianOfRecentWakes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, ok := e.ctrl.Estimate(ctx, "app.example.com"); ok {
		t.Fatal("estimate without history")
	}
	for _, s := range []int{1, 9, 3, 40, 5} {
		_ = e.store.AddWake(ctx, controller.WakeRecord{Host: "app.example.com", Result: controller.WakeRunning, Duration: time.Duration(s) * time.Second})
	}
	_ = e.store.AddWake(ctx, controller.WakeRecord{Host: "app.example.com", Result: controller.WakeFailed, Duration: time.Hour})
	if d, ok := e.ctrl.Estimate(ctx, "app.example.com"); !ok || d != 5*time.Second {
		t.Fatalf("estimate = %v, %v; want 5s", d, ok)
	}
}

func TestExpandReadyURL(t *testing.T) {
	tests := []struct {
		in, want string
		st       controller.Status
		err      bool
	}{
		{"http://x/", "http://x/", controller.Status{}, false},
		{"http://{internal_ip}:8080/h", "http://10.0.0.2:8080/h", controller.Status{InternalIP: "10.0.0.2"}, false},
		{"http://{external_ip}/", "http://34.1.2.3/", controller.Status{ExternalIP: "34.1.2.3"}, false},
		{"http://{external_ip}/", "", controller.Status{InternalIP: "10.0.0.2"}, true},
	}
	for _, tc := range tests {
		got, err := controller.ExpandReadyURL(tc.in, tc.st)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ExpandReadyURL(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// The first caller of a collapsed wake hanging up does not fail the others.
func TestWakeSurvivesFirstCallerCancelling(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{})
	if err != nil || rec.State != controller.StateStarting {
		t.Fatalf("wake with a cancelled context = %+v, %v; want starting", rec, err)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
}

func TestRegistryGenerationChangesOnReplace(t *testing.T) {
	r := controller.NewRegistry(nil, nil)
	g := r.Generation()
	r.Replace([]controller.Host{{Name: "a.test"}}, nil)
	if r.Generation() == g {
		t.Fatal("generation unchanged by Replace")
	}
}

// leaseGatedStore holds the first ReleaseLease until the gate opens: the
// moment a finished wake has recorded running but still owns the host.
type leaseGatedStore struct {
	controller.Store
	once    sync.Once
	reached chan struct{}
	gate    chan struct{}
}

// gatedEnv is newEnv with a leaseGatedStore in front of the store; edit,
// when given, changes the options further.
func gatedEnv(t *testing.T, edit func(*controller.Options)) (*env, *leaseGatedStore) {
	t.Helper()
	gated := &leaseGatedStore{reached: make(chan struct{}), gate: make(chan struct{})}
	e := newEnv(t, func(o *controller.Options, _ *controller.Host) {
		gated.Store = o.Store
		o.Store = gated
		if edit != nil {
			edit(o)
		}
	})
	return e, gated
}

// waitReached waits until a wake is holding at the gate.
func (s *leaseGatedStore) waitReached(t *testing.T) {
	t.Helper()
	select {
	case <-s.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the wake never released its lease")
	}
}

func (s *leaseGatedStore) ReleaseLease(ctx context.Context, name, owner string) error {
	s.once.Do(func() {
		close(s.reached)
		<-s.gate
	})
	return s.Store.ReleaseLease(ctx, name, owner)
}

// A stop decided in the instant between a wake recording running and the
// wake's goroutine ending must still run (it once was dropped, leaving the
// host stopping for good).
func TestStopWhileWakeWindsDownIsNotLost(t *testing.T) {
	e, gated := gatedEnv(t, nil)
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	gated.waitReached(t)
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	if _, err := e.ctrl.Stop(ctx, "app.example.com", "test"); err != nil {
		t.Fatal(err)
	}
	close(gated.gate)
	waitState(t, e.ctrl, "app.example.com", controller.StateStopped)
	if n := e.prov.Stops(); n != 1 {
		t.Fatalf("provider stops = %d, want 1", n)
	}
}

func TestReconcileFinishesOrphanedStop(t *testing.T) {
	tests := []struct {
		name      string
		age       time.Duration
		wantStops int
		want      controller.State
	}{
		{"owner may still be stopping", 10 * time.Second, 0, controller.StateStopping},
		{"owner is gone", 10 * time.Minute, 1, controller.StateStopped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := fake.NewClock(time.Now())
			e := newEnv(t, func(o *controller.Options, _ *controller.Host) { o.Clock = clock })
			ctx := context.Background()
			// A record left stopping by a replica that died mid-stop.
			_, ok, err := e.store.CompareAndSwap(ctx, 0, controller.Record{
				Host: "app.example.com", State: controller.StateStopping,
				Changed: clock.Now().Add(-tc.age), Owner: "ghost", Reason: "idle",
			})
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			if err := e.ctrl.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			waitState(t, e.ctrl, "app.example.com", tc.want)
			if n := e.prov.Stops(); n != tc.wantStops {
				t.Fatalf("provider stops = %d, want %d", n, tc.wantStops)
			}
		})
	}
}

// A new wake decided while the previous (failed) wake's job still winds
// down must run, not be taken as covered by the job that has finished.
func TestWakeWhileFailedWakeWindsDownIsNotLost(t *testing.T) {
	e, gated := gatedEnv(t, func(o *controller.Options) { o.RetryBase, o.RetryMax = time.Millisecond, 2*time.Millisecond })
	e.prov.FailStarts(1)
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	gated.waitReached(t) // the first wake recorded failed and is releasing its lease
	waitState(t, e.ctrl, "app.example.com", controller.StateFailed)
	// Wake again once the (2 ms) backoff has passed.
	poll.Until(t, 5*time.Second, "a second wake to be accepted", func() bool {
		rec, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{})
		return err == nil && rec.State == controller.StateStarting
	})
	close(gated.gate)
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
	if n := e.prov.Starts(); n != 2 {
		t.Fatalf("provider starts = %d, want 2", n)
	}
}

// A queued stop that was overtaken before it ran (another replica settled
// the host meanwhile) leaves the backend alone.
func TestQueuedStopOvertakenDoesNotCallProvider(t *testing.T) {
	e, gated := gatedEnv(t, nil)
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, "app.example.com", controller.Client{}); err != nil {
		t.Fatal(err)
	}
	gated.waitReached(t)
	stopping, err := e.ctrl.Stop(ctx, "app.example.com", "test")
	if err != nil || stopping.State != controller.StateStopping {
		t.Fatalf("Stop = %+v, %v", stopping, err)
	}
	// Another replica decides the host is running after all.
	running := stopping
	running.State, running.Owner = controller.StateRunning, ""
	if _, ok, err := e.store.CompareAndSwap(ctx, stopping.Version, running); err != nil || !ok {
		t.Fatal(ok, err)
	}
	close(gated.gate)
	poll.Until(t, 5*time.Second, "the queued stop to finish", func() bool { return !e.ctrl.Busy("app.example.com") })
	if n := e.prov.Stops(); n != 0 {
		t.Fatalf("provider stops = %d, want 0: the stop was overtaken", n)
	}
	waitState(t, e.ctrl, "app.example.com", controller.StateRunning)
}
