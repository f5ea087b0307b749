// Package scheduler runs waitingroom's periodic work on gocron: the idle
// sweep that puts unused backends to sleep, and the reconcile that compares
// the store with what the providers really run.
//
// With several replicas sharing one store, give every scheduler the same
// Leases and a distinct Owner: they elect one leader through a lease in the
// store, and only the leader runs the jobs, so one replica sweeps at a time.
// The leader renews its lease continuously; when it shuts down it releases
// the lease and another replica takes over at its next tick, and when it dies
// another takes over once the lease expires (LeaseTTL).
package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// Defaults for Options.
const (
	DefaultSweepInterval     = time.Minute
	DefaultReconcileInterval = time.Minute
	DefaultLeaseName         = "scheduler"
	DefaultLeaseTTL          = 15 * time.Second
)

// Controller is what the scheduler drives; *controller.Controller
// implements it.
type Controller interface {
	// SweepIdle stops idle hosts and returns the hosts it began to stop.
	SweepIdle(ctx context.Context) ([]string, error)
	// Reconcile brings the store in line with what the providers report.
	Reconcile(ctx context.Context) error
}

// Leases elects the replica that runs the jobs; controller.Store
// implements it.
type Leases interface {
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
}

// Options configures a Scheduler. Zero values take the defaults.
type Options struct {
	// SweepInterval is how often idle hosts are looked for (default 1m).
	SweepInterval time.Duration
	// ReconcileInterval is how often the store is reconciled with the
	// providers (default 1m). Reconcile also runs once at Start.
	ReconcileInterval time.Duration
	Logger            *slog.Logger // default slog.Default()

	// Leases, when set, makes the schedulers sharing it elect one leader
	// that alone runs the jobs. Nil: this scheduler always runs them.
	Leases Leases
	// Owner names this replica in the lease (default: random). Replicas
	// sharing Leases must use distinct owners.
	Owner string
	// LeaseName is the lease's name in the store (default "scheduler").
	LeaseName string
	// LeaseTTL is how long leadership outlives a leader that died without
	// releasing it (default 15s). The leader renews every third of it.
	LeaseTTL time.Duration
}

// Scheduler owns the sweep and reconcile jobs.
type Scheduler struct {
	ctrl Controller
	log  *slog.Logger
	cron gocron.Scheduler
	elec *elector // nil without Leases

	// life is the context every job runs with; Shutdown cancels it.
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu                sync.Mutex
	started, shut     bool
	sweepJob          gocron.Job
	reconcileJob      gocron.Job
	sweepInterval     time.Duration
	reconcileInterval time.Duration
	shutdownErr       error
}

const (
	sweepJobName     = "waitingroom-idle-sweep"
	reconcileJobName = "waitingroom-reconcile"
)

// New builds a Scheduler with its jobs registered; Start starts them.
func New(ctrl Controller, o Options) (*Scheduler, error) {
	if ctrl == nil {
		return nil, errors.New("scheduler: controller is nil")
	}
	sweep, err := interval("sweep", o.SweepInterval, DefaultSweepInterval)
	if err != nil {
		return nil, err
	}
	reconcile, err := interval("reconcile", o.ReconcileInterval, DefaultReconcileInterval)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Scheduler{ctrl: ctrl, log: o.Logger, sweepInterval: sweep, reconcileInterval: reconcile}
	s.life, s.cancel = context.WithCancel(context.Background())

	cronOpts := []gocron.SchedulerOption{gocron.WithLogger(o.Logger.With("component", "gocron"))}
	if o.Leases != nil {
		if o.LeaseTTL < 0 {
			s.cancel()
			return nil, fmt.Errorf("scheduler: lease TTL %s must be positive", o.LeaseTTL)
		}
		s.elec = newElector(o.Leases, o.LeaseName, o.Owner, o.LeaseTTL, o.Logger)
		cronOpts = append(cronOpts, gocron.WithDistributedElector(s.elec))
	}
	s.cron, err = gocron.NewScheduler(cronOpts...)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	// Reconcile runs at once: until it has, hosts read as unknown.
	s.reconcileJob, err = s.cron.NewJob(gocron.DurationJob(reconcile), gocron.NewTask(s.reconcile),
		append(jobOptions(reconcileJobName), gocron.WithStartAt(gocron.WithStartImmediately()))...)
	if err == nil {
		s.sweepJob, err = s.cron.NewJob(gocron.DurationJob(sweep), gocron.NewTask(s.sweep), jobOptions(sweepJobName)...)
	}
	if err != nil {
		s.cancel()
		_ = s.cron.Shutdown()
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return s, nil
}

// jobOptions are shared by both jobs: a run still going when the next one
// is due makes that next one wait for its following tick, so a slow sweep
// never overlaps itself.
func jobOptions(name string) []gocron.JobOption {
	return []gocron.JobOption{gocron.WithName(name), gocron.WithSingletonMode(gocron.LimitModeReschedule)}
}

func interval(what string, d, def time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return def, nil
	case d < 0:
		return 0, fmt.Errorf("scheduler: %s interval %s must be positive", what, d)
	}
	return d, nil
}

// Start starts the jobs (and, with Leases, the campaign for leadership).
// Starting twice, or after Shutdown, does nothing.
func (s *Scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.shut {
		return
	}
	s.started = true
	if s.elec != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.elec.campaign(s.life)
		}()
	}
	s.cron.Start()
	// Whether this replica leads is known only after its first campaign,
	// which logs it ("this replica now runs the scheduler").
	election := "off (this replica runs the jobs)"
	if s.elec != nil {
		election = "lease " + s.elec.name
	}
	s.log.Info("scheduler started", "sweep_interval", s.sweepInterval, "reconcile_interval", s.reconcileInterval,
		"leader_election", election)
}

// Shutdown cancels the context of running jobs, waits for them, and gives
// up leadership so another replica takes over at once. It is safe to call
// more than once.
func (s *Scheduler) Shutdown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return s.shutdownErr
	}
	s.shut = true
	s.cancel()
	err := s.cron.Shutdown()
	if err != nil {
		err = fmt.Errorf("scheduler: stop jobs: %w", err)
	}
	s.wg.Wait()
	if s.elec != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if rerr := s.elec.resign(ctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("scheduler: release lease: %w", rerr))
		}
		cancel()
	}
	s.shutdownErr = err
	return err
}

// SetIntervals changes the intervals of the running jobs in place (a config
// reload). A zero interval means the default. An unchanged interval leaves
// its job's timing alone; a changed one counts from now.
func (s *Scheduler) SetIntervals(sweep, reconcile time.Duration) error {
	sweep, err := interval("sweep", sweep, DefaultSweepInterval)
	if err != nil {
		return err
	}
	reconcile, err = interval("reconcile", reconcile, DefaultReconcileInterval)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return errors.New("scheduler: shut down")
	}
	if sweep != s.sweepInterval {
		job, err := s.cron.Update(s.sweepJob.ID(), gocron.DurationJob(sweep), gocron.NewTask(s.sweep), jobOptions(sweepJobName)...)
		if err != nil {
			return fmt.Errorf("scheduler: set sweep interval %s: %w", sweep, err)
		}
		s.sweepJob, s.sweepInterval = job, sweep
	}
	if reconcile != s.reconcileInterval {
		job, err := s.cron.Update(s.reconcileJob.ID(), gocron.DurationJob(reconcile), gocron.NewTask(s.reconcile), jobOptions(reconcileJobName)...)
		if err != nil {
			return fmt.Errorf("scheduler: set reconcile interval %s: %w", reconcile, err)
		}
		s.reconcileJob, s.reconcileInterval = job, reconcile
	}
	s.log.Info("scheduler intervals", "sweep_interval", sweep, "reconcile_interval", reconcile)
	return nil
}

// Intervals returns the current sweep and reconcile intervals.
func (s *Scheduler) Intervals() (sweep, reconcile time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sweepInterval, s.reconcileInterval
}

// Leader reports whether this scheduler runs the jobs: always true without
// Leases; with them, whether it held the lease at its last attempt.
func (s *Scheduler) Leader() bool {
	return s.elec == nil || s.elec.leading()
}

// The jobs take s.life rather than gocron's per-job context: gocron cancels
// that one when SetIntervals replaces a job, and a sweep under way should
// finish rather than break off because the configuration was reloaded.

func (s *Scheduler) sweep() {
	stopped, err := s.ctrl.SweepIdle(s.life)
	switch {
	case err != nil && s.life.Err() == nil:
		s.log.Warn("idle sweep failed", "err", err)
	case len(stopped) > 0:
		s.log.Info("idle sweep stopped hosts", "hosts", stopped)
	}
}

func (s *Scheduler) reconcile() {
	if err := s.ctrl.Reconcile(s.life); err != nil && s.life.Err() == nil {
		s.log.Warn("reconcile failed", "err", err)
	}
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
