package activity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/waitingroom/waitingroom/activity/window"
	"github.com/waitingroom/waitingroom/controller"
)

// SourceWarm is controller.Client.Source of wakes made by warm windows.
const SourceWarm = "warm"

// Waker wakes a host; *controller.Controller implements it.
type Waker interface {
	Wake(ctx context.Context, host string, cl controller.Client) (controller.Record, error)
}

var _ Waker = (*controller.Controller)(nil)

// WarmOptions configure a Warm.
type WarmOptions struct {
	// Waker wakes hosts when a window opens. Required.
	Waker Waker
	// Hosts returns the registered hosts (controller.Registry.Hosts).
	// Required.
	Hosts func() []controller.Host
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Clock drives the schedule; default the real clock. Tests pass a
	// clockwork fake.
	Clock clockwork.Clock
	// WakeTimeout bounds one wake call (default 30s). Wake returns as soon
	// as the host is starting; the start itself is the controller's.
	WakeTimeout time.Duration
}

// Warm keeps hosts awake during their warm windows: it wakes a host at each
// window's start (a gocron cron job per window, in the host's time zone)
// and, as a controller.BusyChecker, holds it awake while a window is open.
//
// Several replicas may each run a Warm: the controller collapses their
// wakes into one start.
type Warm struct {
	waker       Waker
	hosts       func() []controller.Host
	log         *slog.Logger
	clock       clockwork.Clock
	wakeTimeout time.Duration
	cron        gocron.Scheduler

	// life bounds catch-up wakes started outside gocron; Shutdown cancels.
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu            sync.Mutex
	jobs          map[warmKey]warmJob
	started, shut bool

	cache *windowCache
}

var _ controller.BusyChecker = (*Warm)(nil)

// warmKey identifies one window of one host; a reload that changes
// neither keeps its job.
type warmKey struct {
	host, window, zone string
}

type warmJob struct {
	id  uuid.UUID
	win window.Window
	loc *time.Location
}

// NewWarm builds a Warm; Start schedules the windows.
func NewWarm(o WarmOptions) (*Warm, error) {
	if o.Waker == nil {
		return nil, errors.New("warm windows: Waker is required")
	}
	if o.Hosts == nil {
		return nil, errors.New("warm windows: Hosts is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.WakeTimeout <= 0 {
		o.WakeTimeout = 30 * time.Second
	}
	cron, err := gocron.NewScheduler(
		gocron.WithClock(o.Clock),
		gocron.WithLocation(time.UTC), // every job names its zone; the machine's never applies
		gocron.WithLogger(o.Logger.With("component", "gocron-warm")),
	)
	if err != nil {
		return nil, fmt.Errorf("warm windows: %w", err)
	}
	w := &Warm{
		waker: o.Waker, hosts: o.Hosts, log: o.Logger, clock: o.Clock, wakeTimeout: o.WakeTimeout,
		cron: cron, jobs: map[warmKey]warmJob{}, cache: newWindowCache(),
	}
	w.life, w.cancel = context.WithCancel(context.Background())
	return w, nil
}

// Start schedules every host's windows and starts the schedule. A window
// already open at Start wakes its host at once: a restart at 10:00 must
// not wait for tomorrow's 09:00. The error lists windows that could not be
// scheduled; the others run. Starting twice does nothing.
func (w *Warm) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.shut {
		return nil
	}
	_, err := w.syncLocked()
	w.started = true
	w.cron.Start()
	w.catchUpLocked(slices.Collect(maps.Keys(w.jobs)))
	return err
}

// Sync brings the jobs in line with the hosts after a reload: windows
// removed lose their job, windows added get one (and wake their host at
// once if they are open now and the schedule is started); unchanged
// windows keep theirs, so a reload at 09:00 cannot lose the 09:00 wake.
func (w *Warm) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.shut {
		return errors.New("warm windows: shut down")
	}
	added, err := w.syncLocked()
	if w.started {
		w.catchUpLocked(added)
	}
	return err
}

func (w *Warm) syncLocked() (added []warmKey, err error) {
	want := map[warmKey]warmJob{}
	var errs []error
	for _, h := range w.hosts() {
		o := SettingsOf(h)
		if len(o.Warm) == 0 {
			continue
		}
		loc, lerr := w.cache.location(o.TimeZone)
		if lerr != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", h.Name, lerr))
			continue
		}
		for _, raw := range o.Warm {
			win, perr := w.cache.window(raw)
			if perr != nil {
				errs = append(errs, fmt.Errorf("host %s: warm %q: %w", h.Name, raw, perr))
				continue
			}
			want[warmKey{host: h.Name, window: win.String(), zone: loc.String()}] = warmJob{win: win, loc: loc}
		}
	}
	for k, j := range w.jobs {
		if _, ok := want[k]; ok {
			continue
		}
		if rerr := w.cron.RemoveJob(j.id); rerr != nil && !errors.Is(rerr, gocron.ErrJobNotFound) {
			errs = append(errs, fmt.Errorf("host %s: remove warm %q: %w", k.host, k.window, rerr))
		}
		delete(w.jobs, k)
	}
	for _, k := range sortedKeys(want) {
		if _, ok := w.jobs[k]; ok {
			continue
		}
		j := want[k]
		job, nerr := w.cron.NewJob(
			gocron.CronJob("CRON_TZ="+k.zone+" "+j.win.Spec, false),
			gocron.NewTask(w.fire, k),
			gocron.WithName("warm "+k.host+" "+k.window),
			gocron.WithTags("warm", k.host),
		)
		if nerr != nil {
			errs = append(errs, fmt.Errorf("host %s: schedule warm %q: %w", k.host, k.window, nerr))
			continue
		}
		j.id = job.ID()
		w.jobs[k] = j
		added = append(added, k)
	}
	return added, errors.Join(errs...)
}

func sortedKeys(m map[warmKey]warmJob) []warmKey {
	return slices.SortedFunc(maps.Keys(m), func(a, b warmKey) int {
		return cmp.Or(cmp.Compare(a.host, b.host), cmp.Compare(a.window, b.window))
	})
}

// catchUpLocked wakes the hosts of the given windows that are open now.
func (w *Warm) catchUpLocked(keys []warmKey) {
	now := w.clock.Now()
	for _, k := range keys {
		j, ok := w.jobs[k]
		if !ok {
			continue
		}
		if _, open := j.win.Active(now, j.loc); !open {
			continue
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.wake(w.life, k, "warm window already open")
		}()
	}
}

// fire is the job run at a window's start.
func (w *Warm) fire(ctx context.Context, k warmKey) {
	w.wake(ctx, k, "warm window opens")
}

func (w *Warm) wake(ctx context.Context, k warmKey, why string) {
	ctx, cancel := context.WithTimeout(ctx, w.wakeTimeout)
	defer cancel()
	rec, err := w.waker.Wake(ctx, k.host, controller.Client{Source: SourceWarm, Display: "warm window " + k.window})
	if err != nil {
		w.log.Warn("warm window could not wake host", "host", k.host, "window", k.window, "zone", k.zone, "err", err)
		return
	}
	w.log.Info(why, "host", k.host, "window", k.window, "zone", k.zone, "state", rec.State)
}

// Shutdown stops the schedule and waits for wakes in flight. It is safe to
// call more than once.
func (w *Warm) Shutdown() error {
	w.mu.Lock()
	if w.shut {
		w.mu.Unlock()
		return nil
	}
	w.shut = true
	w.mu.Unlock()
	w.cancel()
	err := w.cron.Shutdown()
	w.wg.Wait()
	if err != nil {
		return fmt.Errorf("warm windows: %w", err)
	}
	return nil
}

// NextWake is when the host's next window opens (zero: it has none), for
// the dashboard.
func (w *Warm) NextWake(h controller.Host, now time.Time) time.Time {
	o := SettingsOf(h)
	loc, err := w.cache.location(o.TimeZone)
	if err != nil {
		return time.Time{}
	}
	var next time.Time
	for _, raw := range o.Warm {
		win, err := w.cache.window(raw)
		if err != nil {
			continue
		}
		if t := win.Next(now, loc); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// Busy reports a host busy while one of its warm windows is open.
func (w *Warm) Busy(_ context.Context, h controller.Host, now time.Time) (bool, string) {
	o := SettingsOf(h)
	if len(o.Warm) == 0 {
		return false, ""
	}
	loc, err := w.cache.location(o.TimeZone)
	if err != nil {
		return false, ""
	}
	for _, raw := range o.Warm {
		win, err := w.cache.window(raw)
		if err != nil {
			continue // reported by Sync
		}
		if end, open := win.Active(now, loc); open {
			return true, fmt.Sprintf("warm window until %s %s (%s)", clockTime(end, now, loc), loc, win)
		}
	}
	return false, ""
}

// clockTime shows end as a time of day, with the day when it is not today.
func clockTime(end, now time.Time, loc *time.Location) string {
	e, n := end.In(loc), now.In(loc)
	if e.YearDay() == n.YearDay() && e.Year() == n.Year() {
		return e.Format("15:04")
	}
	return e.Format("Mon 2 Jan 15:04")
}

// windowCache keeps parsed windows and loaded zones: the sweep asks for
// them every interval.
type windowCache struct {
	mu      sync.Mutex
	windows map[string]windowResult
	zones   map[string]zoneResult
}

type windowResult struct {
	win window.Window
	err error
}

type zoneResult struct {
	loc *time.Location
	err error
}

// maxCached bounds the caches: their keys come from configuration, which
// reloads may change many times over a process's life.
const maxCached = 1024

func newWindowCache() *windowCache {
	return &windowCache{windows: map[string]windowResult{}, zones: map[string]zoneResult{}}
}

func (c *windowCache) window(raw string) (window.Window, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := cached(c.windows, raw, func() windowResult {
		win, err := window.Parse(raw)
		return windowResult{win, err}
	})
	return r.win, r.err
}

func (c *windowCache) location(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := cached(c.zones, name, func() zoneResult {
		loc, err := time.LoadLocation(name)
		if err != nil {
			err = fmt.Errorf("timezone %q is not an IANA time zone name like Europe/Paris or UTC", name)
		}
		return zoneResult{loc, err}
	})
	return r.loc, r.err
}

// cached returns m[key], computing and storing it when missing; a full m
// is emptied first. The caller holds the lock guarding m.
func cached[R any](m map[string]R, key string, compute func() R) R {
	if r, ok := m[key]; ok {
		return r
	}
	if len(m) >= maxCached {
		clear(m)
	}
	r := compute()
	m[key] = r
	return r
}
