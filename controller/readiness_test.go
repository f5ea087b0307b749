package controller_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

const host = "app.example.com"

// readyServer is a ready_url whose answer the test sets.
type readyServer struct {
	*httptest.Server
	code atomic.Int32
}

func newReadyServer(t *testing.T, code int) *readyServer {
	t.Helper()
	s := &readyServer{}
	s.code.Store(int32(code))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(s.code.Load()))
	}))
	t.Cleanup(s.Close)
	return s
}

func withReadyURL(u string) envOpt {
	return func(_ *controller.Options, h *controller.Host) { h.ReadyURL = u }
}

func record(t *testing.T, e *env) controller.Record {
	t.Helper()
	_, rec, err := e.ctrl.Status(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// neverRunning fails the test if the host is recorded running during d.
func neverRunning(t *testing.T, e *env, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if rec := record(t, e); rec.State == controller.StateRunning {
			t.Fatalf("recorded running although the backend is not ready: %+v", rec)
		}
	}
}

// Every way a host can become running goes through the one readiness
// rule: the provider's Status must say running (a Docker health check that
// is still starting is not ready) AND ready_url must answer 2xx/3xx.
func TestRunningOnlyWhenReady(t *testing.T) {
	paths := []struct {
		name string
		// begin leads the host towards running while the backend is up
		// but not ready.
		begin func(t *testing.T, e *env)
	}{
		{"wake", func(t *testing.T, e *env) {
			if _, err := e.ctrl.Wake(context.Background(), host, controller.Client{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"takeover of an orphaned wake", func(t *testing.T, e *env) {
			_, ok, err := e.store.CompareAndSwap(context.Background(), 0, controller.Record{
				Host: host, State: controller.StateStarting, Changed: time.Now(), WakeID: "dead", Owner: "ghost",
			})
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			if err := e.ctrl.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
		{"reconcile (adoption)", func(t *testing.T, e *env) {
			if err := e.ctrl.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
		{"engine event", func(t *testing.T, e *env) {
			st, _ := e.prov.Status(context.Background(), controller.Target{})
			e.ctrl.Observe(context.Background(), host, st)
		}},
	}
	backends := []struct {
		name  string
		state controller.State // what the provider reports
		code  int              // what ready_url answers
	}{
		{"ready_url answers 500", controller.StateRunning, http.StatusInternalServerError},
		{"health check still starting", controller.StateStarting, http.StatusOK},
	}
	for _, path := range paths {
		for _, b := range backends {
			t.Run(path.name+"/"+b.name, func(t *testing.T) {
				srv := newReadyServer(t, b.code)
				e := newEnv(t, withReadyURL(srv.URL+"/healthz"), func(_ *controller.Options, h *controller.Host) {
					h.StartTimeout = time.Minute
				})
				e.prov.SetState(b.state)
				e.prov.SetStartState(b.state)
				path.begin(t, e)
				neverRunning(t, e, 300*time.Millisecond)
				if rec := record(t, e); rec.State != controller.StateStarting {
					t.Fatalf("state %q (%s), want starting until ready", rec.State, rec.Reason)
				}
				// Ready now: running follows.
				srv.code.Store(http.StatusOK)
				e.prov.SetState(controller.StateRunning)
				waitState(t, e.ctrl, host, controller.StateRunning)
			})
		}
	}
}

// A wake whose backend answers its readiness check with an error fails at
// start_timeout naming the answer; a reconcile then leaves it failed, with
// its failure count and backoff, however often it runs (it once flipped
// such a host to running "found running" and cleared the backoff).
func TestBrokenBackendIsNeverCalledRunningByReconcile(t *testing.T) {
	srv := newReadyServer(t, http.StatusInternalServerError)
	e := newEnv(t, withReadyURL(srv.URL+"/healthz"), func(o *controller.Options, h *controller.Host) {
		h.StartTimeout = 300 * time.Millisecond
		o.RetryBase = time.Hour
	})
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, host, controller.Client{}); err != nil {
		t.Fatal(err)
	}
	failed := waitState(t, e.ctrl, host, controller.StateFailed)
	want := "ready_url " + srv.URL + "/healthz answered 500"
	if !strings.Contains(failed.Reason, want) || failed.Failures != 1 || failed.RetryAt.IsZero() {
		t.Fatalf("failed record = %+v, want reason containing %q, 1 failure, a retry time", failed, want)
	}
	// Reconcile leaves a host alone while this process still works on it.
	poll.Until(t, 5*time.Second, "the wake's job to end", func() bool { return !e.ctrl.Busy(host) })
	for i := 0; i < 3; i++ {
		if err := e.ctrl.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.ctrl.Recheck(ctx, host); err != nil {
			t.Fatal(err)
		}
	}
	rec := record(t, e)
	if rec.State != controller.StateFailed || rec.Failures != 1 || !rec.RetryAt.Equal(failed.RetryAt) || rec.Reason != failed.Reason {
		t.Fatalf("after reconciles: %+v, want unchanged %+v", rec, failed)
	}
	// Repaired: the next reconcile finds it running and clears the failure.
	srv.code.Store(http.StatusOK)
	if err := e.ctrl.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	rec = waitState(t, e.ctrl, host, controller.StateRunning)
	if rec.Failures != 0 || !rec.RetryAt.IsZero() {
		t.Fatalf("repaired record = %+v, want failures cleared", rec)
	}
}

// A backend found up but not answering, with no wake, is followed to
// start_timeout and then failed with the reason — never running.
func TestBackendFoundUpButBrokenFailsAtStartTimeout(t *testing.T) {
	srv := newReadyServer(t, http.StatusInternalServerError)
	e := newEnv(t, withReadyURL(srv.URL+"/"), func(_ *controller.Options, h *controller.Host) {
		h.StartTimeout = 300 * time.Millisecond
	})
	e.prov.SetState(controller.StateRunning)
	if err := e.ctrl.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := waitState(t, e.ctrl, host, controller.StateFailed)
	if !strings.Contains(rec.Reason, "answered 500") {
		t.Fatalf("reason %q does not say what the backend answered", rec.Reason)
	}
	if n := e.prov.Starts(); n != 0 {
		t.Fatalf("provider started %d times: nobody asked to wake it", n)
	}
}

// A backend that stops during its wake fails the wake at once, with the
// provider's words, instead of waiting out start_timeout: whether the
// provider says it exited (a container) or it was seen up and is now
// stopped (an exec status command).
func TestBackendStoppingDuringWakeFailsAtOnce(t *testing.T) {
	tests := []struct {
		name       string
		exited     bool
		reason     string
		wantReason string
	}{
		{"provider says it exited", true, `container "app" exited with code 3`, `container "app" exited with code 3 during its wake`},
		{"seen up, then stopped", false, "", "the backend stopped during its wake"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *controller.Options, h *controller.Host) {
				h.StartTimeout = time.Hour
				o.RetryBase = time.Hour
			})
			e.prov.SetStartState(controller.StateStarting) // booting, not ready
			e.prov.SetReason(tc.reason)
			e.prov.SetExited(tc.exited)
			ctx := context.Background()
			if _, err := e.ctrl.Wake(ctx, host, controller.Client{}); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, 5*time.Second, "the provider to be asked after the start", func() bool { return e.prov.StatusCalls() >= 2 })
			began := time.Now()
			e.prov.SetState(controller.StateStopped)
			st, _ := e.prov.Status(ctx, controller.Target{})
			e.ctrl.Observe(ctx, host, st) // the engine event
			rec := waitState(t, e.ctrl, host, controller.StateFailed)
			if rec.Reason != tc.wantReason || rec.Failures != 1 {
				t.Fatalf("failed record = %+v, want reason %q and 1 failure", rec, tc.wantReason)
			}
			t.Logf("stopped → wake failed: %s", time.Since(began).Round(time.Millisecond))
		})
	}
}

// Recheck moves a running host whose backend is gone to stopped, and one
// whose backend is up but not answering to failed with the reason; a
// healthy one stays running.
func TestRecheckNoticesBackendGone(t *testing.T) {
	tests := []struct {
		name       string
		state      controller.State
		code       int
		want       controller.State
		wantReason string
	}{
		{"healthy", controller.StateRunning, http.StatusOK, controller.StateRunning, ""},
		{"killed", controller.StateStopped, http.StatusOK, controller.StateStopped, "stopped outside waitingroom"},
		{"up, answering 500", controller.StateRunning, http.StatusInternalServerError, controller.StateFailed, "not ready: ready_url "},
		// An exec host without a status command after a restart, or on
		// another replica: ready_url decides alone, both ways.
		{"provider cannot say, healthy", controller.StateUnknown, http.StatusOK, controller.StateRunning, ""},
		{"provider cannot say, answering 500", controller.StateUnknown, http.StatusInternalServerError, controller.StateFailed, "not ready: ready_url "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newReadyServer(t, http.StatusOK)
			e := newEnv(t, withReadyURL(srv.URL+"/"))
			ctx := context.Background()
			if _, err := e.ctrl.Wake(ctx, host, controller.Client{}); err != nil {
				t.Fatal(err)
			}
			waitState(t, e.ctrl, host, controller.StateRunning)
			poll.Until(t, 5*time.Second, "the wake's job to end", func() bool { return !e.ctrl.Busy(host) })
			e.prov.SetState(tc.state)
			srv.code.Store(int32(tc.code))
			if err := e.ctrl.Recheck(ctx, host); err != nil {
				t.Fatal(err)
			}
			// Recheck has settled the record when it returns.
			rec := record(t, e)
			if rec.State != tc.want || !strings.HasPrefix(rec.Reason, tc.wantReason) {
				t.Fatalf("after Recheck: %s %q, want %s %q…", rec.State, rec.Reason, tc.want, tc.wantReason)
			}
			if tc.want == controller.StateFailed && rec.Failures != 0 {
				t.Fatalf("failures = %d: a backend that stopped answering is not a failed wake", rec.Failures)
			}
		})
	}
}

// A flood of Rechecks for one host makes one provider call per
// RecheckInterval: concurrent calls are collapsed and calls within the
// interval return at once.
func TestRecheckIsCollapsedAndRateLimited(t *testing.T) {
	clock := fake.NewClock(time.Now())
	e := newEnv(t, func(o *controller.Options, _ *controller.Host) {
		o.Clock = clock
		o.RecheckInterval = time.Second
	})
	e.prov.SetState(controller.StateRunning)
	ctx := context.Background()
	flood := func() {
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.ctrl.Recheck(ctx, host); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	flood()
	if n := e.prov.StatusCalls(); n != 1 {
		t.Fatalf("200 concurrent Rechecks asked the provider %d times, want 1", n)
	}
	clock.Advance(500 * time.Millisecond)
	flood()
	if n := e.prov.StatusCalls(); n != 1 {
		t.Fatalf("Rechecks within the interval asked the provider: %d calls, want 1", n)
	}
	clock.Advance(600 * time.Millisecond)
	flood()
	if n := e.prov.StatusCalls(); n != 2 {
		t.Fatalf("after the interval: %d provider calls, want 2", n)
	}
	if err := e.ctrl.Recheck(ctx, "nope.example.com"); err == nil {
		t.Fatal("Recheck of an unregistered host succeeded")
	}
}

// One slow answer does not take a running host out of running: a backend
// that is up but did not answer is checked once more before it is demoted.
func TestRunningHostSurvivesOneFailedProbe(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 2 { // the wake's probe is the first; the recheck's the second
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, withReadyURL(srv.URL+"/"))
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, host, controller.Client{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.ctrl, host, controller.StateRunning)
	poll.Until(t, 5*time.Second, "the wake's job to end", func() bool { return !e.ctrl.Busy(host) })
	if err := e.ctrl.Recheck(ctx, host); err != nil {
		t.Fatal(err)
	}
	if rec := record(t, e); rec.State != controller.StateRunning || calls.Load() != 3 {
		t.Fatalf("after one failed probe: %s (%s), %d probes; want running after 3 probes", rec.State, rec.Reason, calls.Load())
	}
}

// While a backend the provider calls running does not answer ready_url
// yet, the wait probes the URL every ≤200 ms but asks the provider (a GCE
// API call, an exec command) only about once a second.
func TestReadinessWaitAsksTheProviderSparingly(t *testing.T) {
	var probes atomic.Int32
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		probes.Add(1)
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, withReadyURL(srv.URL+"/"), func(_ *controller.Options, h *controller.Host) { h.StartTimeout = time.Minute })
	began := time.Now()
	if _, err := e.ctrl.Wake(context.Background(), host, controller.Client{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "ten readiness probes", func() bool { return probes.Load() >= 10 })
	calls, elapsed := e.prov.StatusCalls(), time.Since(began)
	if limit := 2 + int(elapsed/time.Second); calls > limit {
		t.Fatalf("%d provider Status calls during %d probes in %s, want at most %d", calls, probes.Load(), elapsed.Round(time.Millisecond), limit)
	}
	ready.Store(true)
	waitState(t, e.ctrl, host, controller.StateRunning)
}

// A caller whose context ends gets its error at once, while the check it
// started goes on for the others and settles the record.
func TestRecheckCallerCanGiveUp(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "waitingroom-probe" {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	e := newEnv(t, withReadyURL(srv.URL+"/"), func(o *controller.Options, _ *controller.Host) { o.ProbeTimeout = 30 * time.Second })
	ctx := context.Background()
	// Running as far as the store knows.
	if _, ok, err := e.store.CompareAndSwap(ctx, 0, controller.Record{Host: host, State: controller.StateRunning, Changed: time.Now()}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	e.prov.SetState(controller.StateRunning)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := e.ctrl.Recheck(cctx, host); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recheck with a 100 ms deadline = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("Recheck returned %s after its caller's deadline", d)
	}
	release <- struct{}{} // the probe answers 500; the confirming probe too
	release <- struct{}{}
	waitState(t, e.ctrl, host, controller.StateFailed)
}

// An engine event during a wake makes the wake look at once, even while a
// probe hangs (a probe to a container that just died waits for its
// timeout): the container's exit fails the wake in moments, not after the
// 30 s probe timeout.
func TestEngineEventInterruptsAHangingProbe(t *testing.T) {
	arrived := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // never answers
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t, withReadyURL(srv.URL+"/"), func(o *controller.Options, h *controller.Host) {
		o.ProbeTimeout = 30 * time.Second
		h.StartTimeout = time.Minute
	})
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, host, controller.Client{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the wake never probed ready_url")
	}
	began := time.Now()
	e.prov.SetReason(`container "app" exited with code 137`)
	e.prov.SetExited(true)
	e.prov.SetState(controller.StateStopped)
	st, _ := e.prov.Status(ctx, controller.Target{})
	e.ctrl.Observe(ctx, host, st)
	rec := waitState(t, e.ctrl, host, controller.StateFailed)
	if want := `container "app" exited with code 137 during its wake`; rec.Reason != want {
		t.Fatalf("reason %q, want %q", rec.Reason, want)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("failed %s after the event: the hanging probe was waited for", d)
	}
}

// An engine event that arrives while a finished wake's job winds down (it
// has recorded running but still holds the host, so Observe hands the event
// to the job) is not lost: the container that died then is seen stopped
// once the job ends, not at the next reconcile.
func TestEngineEventWhileWakeWindsDownIsNotLost(t *testing.T) {
	e, gated := gatedEnv(t, nil)
	ctx := context.Background()
	if _, err := e.ctrl.Wake(ctx, host, controller.Client{}); err != nil {
		t.Fatal(err)
	}
	gated.waitReached(t)
	waitState(t, e.ctrl, host, controller.StateRunning)
	e.prov.SetReason(`container "app" exited with code 137`)
	e.prov.SetExited(true)
	e.prov.SetState(controller.StateStopped)
	st, _ := e.prov.Status(ctx, controller.Target{})
	e.ctrl.Observe(ctx, host, st) // the engine's die event
	close(gated.gate)
	rec := waitState(t, e.ctrl, host, controller.StateStopped)
	if want := `stopped outside waitingroom: container "app" exited with code 137`; rec.Reason != want {
		t.Fatalf("reason %q, want %q", rec.Reason, want)
	}
}

// An engine's event stream hands every event to ObserveEvent: it must
// return at once while the host's readiness probe hangs, or one host's slow
// backend would hold up the events of every other host on that stream. The
// event is still applied, and a burst of them collapses to the newest.
func TestObserveEventDoesNotHoldUpTheEventStream(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(free)
	e := newEnv(t, withReadyURL(srv.URL+"/healthz"), func(o *controller.Options, _ *controller.Host) {
		o.ProbeTimeout = 5 * time.Second
	})
	e.prov.SetState(controller.StateRunning)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for range 100 {
			e.ctrl.ObserveEvent(host, controller.Status{State: controller.StateRunning})
		}
	}()
	select {
	case <-returned:
	case <-time.After(3 * time.Second): // blocked: each call would wait out a 5 s probe
		t.Fatal("ObserveEvent waited for the host's readiness probe")
	}
	free()
	waitState(t, e.ctrl, host, controller.StateRunning)
}

// A backend that is still up right after its host was stopped (an exec stop
// returns once the signal is sent; a server drains) is winding down: a
// reconcile then must leave the host stopped, not follow it as "found
// starting" (a failed wake later) or adopt it as running. Once the settle
// time has passed, a backend found up is adopted as before.
func TestJustStoppedBackendStillUpIsLeftStopped(t *testing.T) {
	for _, code := range []int{http.StatusOK, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			srv := newReadyServer(t, code)
			clock := fake.NewClock(time.Now())
			e := newEnv(t, withReadyURL(srv.URL+"/healthz"), func(o *controller.Options, _ *controller.Host) { o.Clock = clock })
			ctx := context.Background()
			if _, _, err := e.store.CompareAndSwap(ctx, 0, controller.Record{Host: host, State: controller.StateStopped, Changed: clock.Now(), Reason: "idle for 30m"}); err != nil {
				t.Fatal(err)
			}
			e.prov.SetState(controller.StateRunning) // the process has not exited yet
			if err := e.ctrl.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if _, rec, _ := e.ctrl.Status(ctx, host); rec.State != controller.StateStopped {
				t.Fatalf("state %q (%s) right after the stop, want stopped", rec.State, rec.Reason)
			}
			if code != http.StatusOK {
				return
			}
			clock.Advance(time.Minute)
			if err := e.ctrl.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			waitState(t, e.ctrl, host, controller.StateRunning)
		})
	}
}
