package scheduler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/store/memory"
)

// fakeController counts calls. A sweep with sweepDelay blocks that long or
// until its context is cancelled.
type fakeController struct {
	sweepDelay time.Duration

	sweeps, reconciles atomic.Int64
	inFlight, maxInFlt atomic.Int64
	sawCancel          atomic.Bool
}

func (f *fakeController) SweepIdle(ctx context.Context) ([]string, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlt.Load()
		if n <= m || f.maxInFlt.CompareAndSwap(m, n) {
			break
		}
	}
	if f.sweepDelay > 0 {
		select {
		case <-time.After(f.sweepDelay):
		case <-ctx.Done():
			f.sawCancel.Store(true)
		}
	}
	f.sweeps.Add(1)
	return nil, nil
}

func (f *fakeController) Reconcile(context.Context) error {
	f.reconciles.Add(1)
	return nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newScheduler(t *testing.T, ctrl Controller, o Options) *Scheduler {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	s, err := New(ctrl, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	return s
}

func TestSweepRunsEveryIntervalAndReconcileAtStart(t *testing.T) {
	f := &fakeController{}
	s := newScheduler(t, f, Options{SweepInterval: 50 * time.Millisecond, ReconcileInterval: time.Hour})
	s.Start()
	poll.Until(t, 5*time.Second, "reconcile at start", func() bool { return f.reconciles.Load() >= 1 })
	poll.Until(t, 5*time.Second, "5 sweeps", func() bool { return f.sweeps.Load() >= 5 })
	if got := f.reconciles.Load(); got != 1 {
		t.Errorf("reconcile ran %d times with a 1h interval; want once, at start", got)
	}
}

func TestShutdownCancelsRunningJobsAndStopsCalls(t *testing.T) {
	f := &fakeController{sweepDelay: time.Hour}
	s := newScheduler(t, f, Options{SweepInterval: 20 * time.Millisecond, ReconcileInterval: 20 * time.Millisecond})
	s.Start()
	poll.Until(t, 5*time.Second, "a sweep under way", func() bool { return f.inFlight.Load() == 1 })
	began := time.Now()
	if err := s.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Shutdown took %s; a blocked job should see its context cancelled", took)
	}
	if !f.sawCancel.Load() {
		t.Error("the running sweep's context was not cancelled")
	}
	sweeps, reconciles := f.sweeps.Load(), f.reconciles.Load()
	// Proving that nothing happens needs time to pass: ten intervals.
	time.Sleep(200 * time.Millisecond)
	if f.sweeps.Load() != sweeps || f.reconciles.Load() != reconciles {
		t.Errorf("jobs ran after Shutdown: sweeps %d→%d, reconciles %d→%d",
			sweeps, f.sweeps.Load(), reconciles, f.reconciles.Load())
	}
	if err := s.Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestSlowSweepNeverOverlapsItself(t *testing.T) {
	f := &fakeController{sweepDelay: 150 * time.Millisecond}
	s := newScheduler(t, f, Options{SweepInterval: 20 * time.Millisecond, ReconcileInterval: time.Hour})
	s.Start()
	poll.Until(t, 10*time.Second, "4 slow sweeps", func() bool { return f.sweeps.Load() >= 4 })
	if m := f.maxInFlt.Load(); m != 1 {
		t.Errorf("%d sweeps ran at once; want 1", m)
	}
}

func TestSetIntervalsUpdatesRunningJobs(t *testing.T) {
	f := &fakeController{}
	s := newScheduler(t, f, Options{SweepInterval: time.Hour, ReconcileInterval: time.Hour})
	s.Start()
	poll.Until(t, 5*time.Second, "reconcile at start", func() bool { return f.reconciles.Load() >= 1 })
	if err := s.SetIntervals(50*time.Millisecond, 50*time.Millisecond); err != nil {
		t.Fatalf("SetIntervals: %v", err)
	}
	poll.Until(t, 5*time.Second, "3 sweeps at the new interval", func() bool { return f.sweeps.Load() >= 3 })
	poll.Until(t, 5*time.Second, "3 reconciles at the new interval", func() bool { return f.reconciles.Load() >= 4 })
	if sw, rc := s.Intervals(); sw != 50*time.Millisecond || rc != 50*time.Millisecond {
		t.Errorf("Intervals() = %s, %s; want 50ms, 50ms", sw, rc)
	}
	if err := s.SetIntervals(-time.Second, 0); err == nil {
		t.Error("a negative interval was accepted")
	}
	if err := s.SetIntervals(0, 0); err != nil {
		t.Fatalf("SetIntervals(0, 0): %v", err)
	}
	if sw, rc := s.Intervals(); sw != DefaultSweepInterval || rc != DefaultReconcileInterval {
		t.Errorf("zero intervals gave %s, %s; want the defaults", sw, rc)
	}
	_ = s.Shutdown()
	if err := s.SetIntervals(time.Second, time.Second); err == nil {
		t.Error("SetIntervals after Shutdown succeeded")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	f := &fakeController{}
	tests := []struct {
		name string
		ctrl Controller
		o    Options
	}{
		{"nil controller", nil, Options{}},
		{"negative sweep interval", f, Options{SweepInterval: -time.Second}},
		{"negative reconcile interval", f, Options{ReconcileInterval: -time.Second}},
		{"negative lease ttl", f, Options{Leases: newFakeLeases(), LeaseTTL: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := New(tt.ctrl, tt.o); err == nil {
				_ = s.Shutdown()
				t.Fatal("New succeeded")
			}
		})
	}
}

// fakeLeases is a lease store on the real clock. fail makes every call
// error (an unreachable store); dead owners can neither acquire nor
// release (a replica that crashed).
type fakeLeases struct {
	fail     atomic.Bool
	attempts atomic.Int64

	mu      sync.Mutex
	owner   map[string]string
	expires map[string]time.Time
	dead    map[string]bool
}

func newFakeLeases() *fakeLeases {
	return &fakeLeases{owner: map[string]string{}, expires: map[string]time.Time{}, dead: map[string]bool{}}
}

var errUnreachable = errors.New("lease store unreachable")

func (l *fakeLeases) AcquireLease(_ context.Context, name, owner string, ttl time.Duration) (bool, error) {
	l.attempts.Add(1)
	if l.fail.Load() {
		return false, errUnreachable
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead[owner] {
		return false, nil
	}
	now := time.Now()
	if cur, ok := l.owner[name]; ok && cur != owner && now.Before(l.expires[name]) {
		return false, nil
	}
	l.owner[name], l.expires[name] = owner, now.Add(ttl)
	return true, nil
}

func (l *fakeLeases) ReleaseLease(_ context.Context, name, owner string) error {
	if l.fail.Load() {
		return errUnreachable
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dead[owner] && l.owner[name] == owner {
		delete(l.owner, name)
	}
	return nil
}

func (l *fakeLeases) kill(owner string) {
	l.mu.Lock()
	l.dead[owner] = true
	l.mu.Unlock()
}

func TestOnlyTheLeaderRunsJobsAndAnotherTakesOverOnShutdown(t *testing.T) {
	stores := []struct {
		name   string
		leases func() Leases
	}{
		{"fake lease store", func() Leases { return newFakeLeases() }},
		{"memory store", func() Leases { return memory.New(nil) }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			leases := st.leases()
			fa, fb := &fakeController{}, &fakeController{}
			// A long TTL: on a loaded machine a late renewal must not
			// hand leadership over and make this test flaky.
			o := Options{SweepInterval: 30 * time.Millisecond, ReconcileInterval: time.Hour, Leases: leases, LeaseTTL: 3 * time.Second}
			oa, ob := o, o
			oa.Owner, ob.Owner = "replica-a", "replica-b"
			a, b := newScheduler(t, fa, oa), newScheduler(t, fb, ob)
			a.Start()
			b.Start()
			poll.Until(t, 10*time.Second, "10 sweeps in all", func() bool { return fa.sweeps.Load()+fb.sweeps.Load() >= 10 })
			leader, leaderCtrl, other, otherCtrl := a, fa, b, fb
			if fb.sweeps.Load() > 0 {
				leader, leaderCtrl, other, otherCtrl = b, fb, a, fa
			}
			if n := otherCtrl.sweeps.Load(); n != 0 {
				t.Fatalf("both replicas swept: %d and %d times", leaderCtrl.sweeps.Load(), n)
			}
			if r1, r2 := leaderCtrl.reconciles.Load(), otherCtrl.reconciles.Load(); r1 != 1 || r2 != 0 {
				t.Errorf("reconciles: leader %d, other %d; want 1 and 0", r1, r2)
			}
			if !leader.Leader() || other.Leader() {
				t.Errorf("Leader(): leader %v, other %v", leader.Leader(), other.Leader())
			}
			if err := leader.Shutdown(); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			began := time.Now()
			poll.Until(t, 5*time.Second, "the other replica to take over", func() bool { return otherCtrl.sweeps.Load() >= 3 })
			t.Logf("takeover after a clean shutdown: %s", time.Since(began).Round(time.Millisecond))
		})
	}
}

func TestDeadLeaderIsReplacedOnceItsLeaseExpires(t *testing.T) {
	leases := newFakeLeases()
	fa, fb := &fakeController{}, &fakeController{}
	const ttl = 600 * time.Millisecond
	o := Options{SweepInterval: 30 * time.Millisecond, ReconcileInterval: time.Hour, Leases: leases, LeaseTTL: ttl}
	oa, ob := o, o
	oa.Owner, ob.Owner = "replica-a", "replica-b"
	a := newScheduler(t, fa, oa)
	a.Start()
	poll.Until(t, 5*time.Second, "replica a to sweep", func() bool { return fa.sweeps.Load() >= 1 })
	b := newScheduler(t, fb, ob)
	b.Start()
	leases.kill("replica-a")
	killed := time.Now()
	poll.Until(t, 10*time.Second, "replica b to take over", func() bool { return fb.sweeps.Load() >= 1 })
	took := time.Since(killed)
	t.Logf("takeover after the leader died: %s (lease TTL %s)", took.Round(time.Millisecond), ttl)
	if !b.Leader() || a.Leader() {
		t.Errorf("Leader(): a %v, b %v; want b only", a.Leader(), b.Leader())
	}
}

func TestUnreachableLeaseStoreRunsNothingUntilItReturns(t *testing.T) {
	leases := newFakeLeases()
	leases.fail.Store(true)
	f := &fakeController{}
	s := newScheduler(t, f, Options{SweepInterval: 20 * time.Millisecond, ReconcileInterval: time.Hour, Leases: leases, Owner: "a", LeaseTTL: time.Second})
	s.Start()
	poll.Until(t, 5*time.Second, "10 lease attempts", func() bool { return leases.attempts.Load() >= 10 })
	if n := f.sweeps.Load() + f.reconciles.Load(); n != 0 {
		t.Fatalf("%d jobs ran without a reachable lease store", n)
	}
	leases.fail.Store(false)
	poll.Until(t, 5*time.Second, "sweeps after the store returned", func() bool { return f.sweeps.Load() >= 2 })
}

func TestSetIntervalsBeforeStart(t *testing.T) {
	f := &fakeController{}
	s := newScheduler(t, f, Options{SweepInterval: time.Hour, ReconcileInterval: time.Hour})
	if err := s.SetIntervals(30*time.Millisecond, time.Hour); err != nil {
		t.Fatalf("SetIntervals: %v", err)
	}
	s.Start()
	poll.Until(t, 5*time.Second, "3 sweeps", func() bool { return f.sweeps.Load() >= 3 })
}

// The start line says how the leader is chosen, not that this replica was
// elected: with Leases that is known only after the first campaign, which
// logs it.
func TestStartLogSaysHowTheLeaderIsChosen(t *testing.T) {
	tests := []struct {
		name   string
		leases Leases
		want   string
	}{
		{"without leases", nil, `leader_election="off (this replica runs the jobs)"`},
		{"with leases", newFakeLeases(), `leader_election="lease scheduler"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var buf strings.Builder
			log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
			s := newScheduler(t, &fakeController{}, Options{ReconcileInterval: time.Hour, SweepInterval: time.Hour, Leases: tt.leases, Logger: log})
			s.Start()
			mu.Lock()
			out := buf.String()
			mu.Unlock()
			line := ""
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "scheduler started") {
					line = l
				}
			}
			if !strings.Contains(line, tt.want) || strings.Contains(line, "elected") {
				t.Errorf("start line %q, want %s and no claim of election", line, tt.want)
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
