package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/guard"
	"github.com/waitingroom/waitingroom/hold"
	"github.com/waitingroom/waitingroom/internal/redact"
	"github.com/waitingroom/waitingroom/internal/rlimit"
	"github.com/waitingroom/waitingroom/metrics"
	"github.com/waitingroom/waitingroom/providers"
	"github.com/waitingroom/waitingroom/providers/kinds"
	"github.com/waitingroom/waitingroom/scheduler"
	"github.com/waitingroom/waitingroom/web"
	"github.com/waitingroom/waitingroom/webhook"
)

// shutdownGrace bounds how long a stopping process waits for requests and
// in-flight wakes before cutting them off.
const shutdownGrace = 10 * time.Second

// rediscoverEvery is how often hosts registered by provider labels are
// re-read (a new labelled container is served within it).
const rediscoverEvery = 15 * time.Second

type serveFlags struct {
	config    string
	logFormat string
	logLevel  string
}

// parseServeFlags parses serve's flags; when it fails it has said why on
// stderr and returns the exit code (0 for -h).
func parseServeFlags(args []string, stderr io.Writer) (serveFlags, int, bool) {
	var f serveFlags
	fs := newFlags("serve", "[--config FILE] [--log-format text|json] [--log-level LEVEL]", stderr)
	fs.StringVar(&f.config, "config", "waitingroom.yaml", "configuration file")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	code, ok := parseFlags(fs, args, stderr)
	return f, code, ok
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(redact.Handler(slog.NewTextHandler(w, opts))), nil
	case "json":
		return slog.New(redact.Handler(slog.NewJSONHandler(w, opts))), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func serve(ctx context.Context, args []string, stderr io.Writer) int {
	f, code, ok := parseServeFlags(args, stderr)
	if !ok {
		return code
	}
	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "waitingroom:", err)
		return 2
	}
	// client-go (the kubernetes provider's informers) logs through klog,
	// a process-wide logger: send it to ours, so an API server outage is
	// logged in the configured format instead of as raw stderr lines.
	klog.SetSlogLogger(log.With("component", "client-go"))
	cfg, err := openConfig(f.config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// Before the stream caps are derived from it (web.DefaultMaxStreams).
	if files, err := rlimit.Raise(); err != nil {
		log.Warn("open-file limit not raised", "limit", files, "err", err)
	} else {
		log.Info("open-file limit", "files", files)
	}
	a, err := newApp(ctx, cfg, f.config, log)
	if err != nil {
		fmt.Fprintln(stderr, "waitingroom:", err)
		return 1
	}
	releaseMemory()
	if err := a.run(ctx, f.config); err != nil {
		log.Error("waitingroom stopped", "err", err)
		return 1
	}
	return 0
}

// releaseMemory returns the garbage of loading a configuration to the
// kernel at once. Decoding a large YAML file (10,000 hosts: 1.7 MB) peaks
// at several times the live data, and the runtime would otherwise give
// that back only over minutes, so the process would look far bigger than
// it is.
func releaseMemory() { debug.FreeOSMemory() }

// app is the wired process: every component, built from one config.
type app struct {
	log     *slog.Logger
	store   controller.Store
	ctrl    *controller.Controller
	provs   *providers.Set
	public  *web.Public
	admin   *web.Admin
	sched   *scheduler.Scheduler
	holder  *hold.Holder
	watcher *config.Watcher
	metrics *metrics.Metrics
	promReg *prometheus.Registry
	act     *activitySources
	busy    *busySet
	hooks   *webhook.Notifier
	regMu   sync.Mutex // serialises registry replacements (reload, label rediscovery)
	cfgMu   sync.Mutex
	cfg     *config.Config
	// reconcile asks the run loop for a reconcile now (after a reload:
	// new hosts start unknown); it holds at most one request.
	reconcile chan struct{}
	baseCtx   context.Context // cancelled first at shutdown: ends SSE streams
	cancelFn  context.CancelFunc
}

func newApp(ctx context.Context, cfg *config.Config, path string, log *slog.Logger) (*app, error) {
	a := &app{log: log, cfg: cfg, reconcile: make(chan struct{}, 1)}
	a.watcher = config.NewWatcher(path, kinds.All(), log, a.apply)
	a.watcher.SetCurrent(cfg)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := a.build(ctx, cfg, st); err != nil {
		st.Close()
		if a.provs != nil {
			a.provs.Close()
		}
		return nil, err
	}
	return a, nil
}

// build wires every component on top of the store; newApp releases the
// store and the providers when it fails.
func (a *app) build(ctx context.Context, cfg *config.Config, st controller.Store) error {
	log := a.log
	var err error
	a.promReg = prometheus.NewRegistry()
	if a.metrics, err = metrics.New(a.promReg); err != nil {
		return err
	}
	st = metrics.WrapStore(st, a.metrics)
	a.store = st
	a.provs = newProviderSet(log)
	built, err := a.provs.Apply(ctx, cfg.ProviderSpecs())
	if err != nil {
		return err
	}
	registry := controller.NewRegistry(a.hosts(ctx, cfg), a.instrument(built))
	key, err := loadHashKey(cfg)
	if err != nil {
		return fmt.Errorf("privacy.hash_key_file: %w", err)
	}
	clock := controller.SystemClock{}
	bo := budgetOptions(cfg.File.Budgets)
	bo.Hasher, bo.Logger = guard.NewHasher(key, clock), log
	budgets := guard.NewBudgets(st, bo, clock)
	var onEvent func(controller.Event)
	if a.hooks, err = newWebhooks(cfg, log); err != nil {
		return err
	} else if a.hooks != nil {
		onEvent = a.hooks.Notify
	}
	gate := wakeGate(budgets, a.hooks, a.metrics)
	m := a.metrics
	events := func(e controller.Event) {
		if onEvent != nil {
			onEvent(e)
		}
		m.OnEvent(e)
	}
	busy := &busySet{}
	a.busy = busy
	a.ctrl = controller.New(controller.Options{
		Store:    st,
		Registry: registry,
		Logger:   log,
		Clock:    clock,
		Gate:     gate,
		Busy:     []controller.BusyChecker{busy},
		OnEvent:  events,
		OnWake:   m.OnWake,
	})
	m.TrackStates(a.ctrl)
	m.TrackSavings(a.ctrl)
	if err := a.buildActivity(cfg, busy); err != nil {
		return err
	}
	a.baseCtx, a.cancelFn = context.WithCancel(context.Background())
	pol, err := newPolicy(cfg, clock, key, budgets)
	if err != nil {
		return err
	}
	a.holder, err = hold.New(hold.Options{
		Controller:        a.ctrl,
		MaxPerHost:        cfg.File.Hold.MaxPerHost,
		MaxTotal:          cfg.File.Hold.MaxTotal,
		MaxBodyBytes:      int64(cfg.File.Hold.MaxBodyBytes),
		MaxForwardPerHost: cfg.File.Hold.MaxForwardPerHost,
		TrustedProxies:    pol.trusted,
		Registerer:        a.promReg,
		Logger:            log,
	})
	if err != nil {
		return err
	}

	tmpl, err := pageTemplate(cfg)
	if err != nil {
		return err
	}
	a.public, err = web.NewPublic(web.PublicOptions{
		Controller:          a.ctrl,
		Logger:              log,
		Template:            tmpl,
		BaseContext:         a.baseCtx,
		Policy:              pol,
		ClientIP:            pol.ip.IP,
		Monitor:             web.MonitorAnswer{Status: cfg.File.Monitors.Status, Body: cfg.File.Monitors.Body},
		Holder:              a.holder,
		MaxHeaderBytes:      cfg.File.Limits.MaxHeaderBytes,
		MaxURLLength:        cfg.File.Limits.MaxURLLength,
		MaxStreamsPerClient: cfg.File.Limits.MaxStreamsPerClient,
		MaxStreams:          cfg.File.Limits.MaxStreams,
		ShowFailureReason:   cfg.File.Page.ShowFailureReason,
		MaxHostLength:       cfg.File.Limits.MaxHostLength,
		PageStatus:          cfg.File.Page.Status,
	})
	if err != nil {
		return err
	}
	brands, err := pageBrands(cfg)
	if err != nil {
		return err
	}
	a.public.SetBrands(brands)
	if a.admin, err = a.newAdmin(cfg, pol, budgets); err != nil {
		return err
	}
	a.sched, err = scheduler.New(a.ctrl, scheduler.Options{
		SweepInterval:     cfg.File.Scheduler.SweepInterval.D(),
		ReconcileInterval: cfg.File.Scheduler.ReconcileInterval.D(),
		Logger:            log,
		Leases:            st,
		Owner:             a.ctrl.ReplicaID(),
	})
	if err != nil {
		return err
	}
	return nil
}

// budgetOptions maps the budgets: section onto guard's options; the
// hasher and logger are set by the caller. The per-host budgets are not
// among them: config resolves them into each host (so a reload applies
// them), and guard enforces what the host says.
func budgetOptions(b config.Budgets) guard.BudgetOptions {
	return guard.BudgetOptions{
		ClientPerHour: b.ClientWakesPerHour, PrefixPerHour: b.PrefixWakesPerHour,
		MaxConcurrentStarts: b.MaxConcurrentStarts, HoneypotBlock: b.HoneypotBlock.D(),
	}
}

// wakeGate is the chain every wake passes: the budgets decide; around them
// the webhooks and then the metrics observe each refusal (both only look
// at the answer, so each sees every refusal the budgets make).
func wakeGate(budgets controller.WakeGate, hooks *webhook.Notifier, m *metrics.Metrics) controller.WakeGate {
	gate := budgets
	if hooks != nil {
		gate = hooks.WrapGate(gate)
	}
	return metrics.WrapGate(gate, m)
}

func pageTemplate(cfg *config.Config) (*template.Template, error) {
	if cfg.File.Page.Template == "" {
		return nil, nil
	}
	t, err := web.LoadTemplate(cfg.File.Page.Template)
	if err != nil {
		return nil, fmt.Errorf("page.template: %w", err)
	}
	return t, nil
}

// pageBrands loads the looks of the hosts with a page: section (their
// logo and template files are read here, at start and reload only).
func pageBrands(cfg *config.Config) (map[string]*web.Brand, error) {
	opts := cfg.Brands()
	out := make(map[string]*web.Brand, len(opts))
	for host, o := range opts {
		b, err := web.LoadBrand(o)
		if err != nil {
			return nil, fmt.Errorf("host %q: page: %w", host, err)
		}
		out[host] = b
	}
	return out, nil
}

// hosts is the registry of a config: its own hosts plus any discovered by
// providers (Docker labels), the file winning conflicts.
func (a *app) hosts(ctx context.Context, cfg *config.Config) []controller.Host {
	return a.provs.Discover(ctx, cfg.Hosts(), cfg.HostDefaults)
}

// apply swaps in a reloaded configuration. Wakes in progress keep running:
// they hold the Host they started with, and the registry swap is atomic.
// When a provider cannot be built nothing changes and the error goes back
// to the watcher, which refuses the file (the reload is reported failed).
func (a *app) apply(cfg *config.Config) error {
	brands, err := pageBrands(cfg)
	if err != nil {
		return fmt.Errorf("pages not reloaded, keeping the previous configuration: %w", err)
	}
	built, err := a.provs.Apply(context.Background(), cfg.ProviderSpecs())
	if err != nil {
		return fmt.Errorf("providers not rebuilt, keeping the previous configuration: %w", err)
	}
	if users, tokens, err := adminCredentials(cfg); err != nil {
		a.log.Error("reload: admin users and tokens unchanged", "err", err)
	} else {
		a.admin.SetCredentials(users, tokens)
	}
	a.regMu.Lock()
	a.ctrl.Registry().Replace(a.hosts(context.Background(), cfg), a.instrument(built))
	a.public.SetBrands(brands)
	a.cfgMu.Lock()
	a.cfg = cfg
	a.cfgMu.Unlock()
	a.regMu.Unlock()
	// Out of the registry now: providers whose settings changed end their
	// event streams and close their clients.
	a.provs.Retire()
	if err := a.sched.SetIntervals(cfg.File.Scheduler.SweepInterval.D(), cfg.File.Scheduler.ReconcileInterval.D()); err != nil {
		a.log.Warn("reload: scheduler intervals unchanged", "err", err)
	}
	a.reloadActivity()
	a.log.Info("configuration reloaded", "file", cfg.Path, "hosts", a.ctrl.Registry().Len())
	releaseMemory()
	// New hosts start unknown: learn their real state now, not at the next
	// periodic reconcile (the run loop owns it).
	a.requestReconcile()
	return nil
}

// requestReconcile asks the run loop for a reconcile now.
func (a *app) requestReconcile() {
	select {
	case a.reconcile <- struct{}{}:
	default: // one is pending already
	}
}

// reconcileOnRequest runs the reconciles apply asks for, until ctx ends.
func (a *app) reconcileOnRequest(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.reconcile:
		}
		if err := a.ctrl.Reconcile(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("reconcile after reload", "err", err)
		}
	}
}

// refreshDiscovered re-reads the hosts providers register from labels,
// so a container created with waitingroom.* labels is served without a
// reload.
func (a *app) refreshDiscovered(ctx context.Context) {
	// Serialised with apply: a refresh built from the previous
	// configuration must not replace a reloaded registry.
	a.regMu.Lock()
	defer a.regMu.Unlock()
	a.cfgMu.Lock()
	cfg := a.cfg
	a.cfgMu.Unlock()
	reg := a.ctrl.Registry()
	before := hostNames(reg.Hosts())
	hosts := a.hosts(ctx, cfg)
	reg.Replace(hosts, reg.Providers())
	if !slices.Equal(before, hostNames(hosts)) {
		a.requestReconcile() // new hosts start unknown
	}
}

func hostNames(hs []controller.Host) []string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Name
	}
	slices.Sort(names)
	return names
}

// targetsOf is the registry's current targets of one provider: what its
// event stream follows.
func (a *app) targetsOf(provider string) []controller.Target {
	var ts []controller.Target
	for _, h := range a.ctrl.Registry().Hosts() {
		if h.Provider == provider {
			ts = append(ts, h.Target)
		}
	}
	return ts
}

func (a *app) run(ctx context.Context, path string) error {
	defer a.store.Close()
	cfg := a.cfg
	publicLn, err := listen(cfg, "listen", cfg.File.Listen)
	if err != nil {
		return err
	}
	adminLn, err := listen(cfg, "admin.listen", cfg.File.Admin.Listen)
	if err != nil {
		publicLn.Close()
		return err
	}

	// Every background task belongs to this group: shutdown cancels bg
	// and waits for all of them. A task that fails is logged and does not
	// take the process down (the listeners keep serving).
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var group errgroup.Group
	goRun := func(name string, fn func(context.Context) error) {
		group.Go(func() error {
			if err := fn(bg); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error(name+" stopped", "err", err)
			}
			return nil
		})
	}

	goRun("event relay", a.ctrl.Run)
	// Subscribed before the listeners open, so no page misses an event;
	// bounded, because an unreachable Redis must not block the start.
	select {
	case <-a.ctrl.Relaying():
	case <-time.After(2 * time.Second):
		a.log.Warn("store events not subscribed yet; continuing (store unreachable?)")
	}
	watcher := a.watcher
	goRun("config watcher", watcher.Run)
	goRun("provider watchers", func(ctx context.Context) error { return a.provs.Watch(ctx, a.targetsOf, a.ctrl) })
	goRun("label discovery", func(ctx context.Context) error {
		return a.provs.Rediscover(ctx, rediscoverEvery, a.refreshDiscovered)
	})
	goRun("reconcile after reload", a.reconcileOnRequest)
	a.sched.Start()
	if err := a.act.warm.Start(); err != nil {
		a.log.Error("warm windows not scheduled", "err", err)
	}
	goRun("adoption follower", func(ctx context.Context) error {
		a.act.adopt.Follow(a.ctrl.Subscribe(ctx, ""))
		return nil
	})
	if a.hooks != nil {
		goRun("webhooks", a.hooks.Run)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	goRun("SIGHUP reload", func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				if err := watcher.Reload(); err != nil {
					a.log.Error("reload on SIGHUP rejected; keeping the previous configuration", "errors", err.Error())
				}
			}
		}
	})

	publicSrv := a.public.Server(cfg.File.Listen)
	adminSrv := a.admin.Server(cfg.File.Admin.Listen)
	if err := a.wireTraefik(cfg, publicSrv, adminSrv, goRun); err != nil {
		publicLn.Close()
		adminLn.Close()
		return err
	}
	publicSrv.Handler = metrics.InstrumentPublic(publicSrv.Handler, a.metrics)
	goRun("admin event log", a.admin.Run)
	errc := make(chan error, 2)
	go func() { errc <- publicSrv.Serve(publicLn) }()
	go func() { errc <- adminSrv.Serve(adminLn) }()
	a.log.Info("waitingroom serving", "listen", publicLn.Addr().String(), "admin", adminLn.Addr().String(),
		"hosts", a.ctrl.Registry().Len(), "store", storeKind(cfg), "version", version)

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down")
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}

	// Requests in flight are answered; event streams end; wakes in flight
	// get the grace period, then stay "starting" in the store for
	// Reconcile to resume after the restart.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	a.cancelFn()
	a.holder.Close() // held clients get their 503 now, not at hold_timeout
	var swg sync.WaitGroup
	for _, s := range []*http.Server{publicSrv, adminSrv} {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := s.Shutdown(sctx); err != nil {
				a.log.Warn("server shutdown", "addr", s.Addr, "err", err)
			}
		}()
	}
	swg.Wait()
	if err := a.sched.Shutdown(); err != nil {
		a.log.Warn("scheduler shutdown", "err", err)
	}
	if err := a.act.warm.Shutdown(); err != nil {
		a.log.Warn("warm windows shutdown", "err", err)
	}
	a.ctrl.Shutdown(sctx)
	stopBG()
	_ = group.Wait() // tasks log their own errors
	a.provs.Close()
	a.log.Info("stopped")
	return runErr
}

// listen opens a listener; its error names the setting and its line, so
// a port in use points at the line to change.
func listen(cfg *config.Config, key, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		hint := ""
		if errors.Is(err, syscall.EADDRINUSE) {
			hint = " (another process, perhaps another waitingroom, uses it: stop it or change the port)"
		}
		return nil, fmt.Errorf("%s: %s %q: %w%s", cfg.Where(key), key, addr, err, hint)
	}
	return ln, nil
}

func storeKind(cfg *config.Config) string {
	switch {
	case cfg.File.Store.Sentinel.Master != "":
		return "redis via sentinel"
	case cfg.File.Store.RedisURL == "":
		return "memory"
	}
	return "redis"
}
