package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// AdminController is what the admin listener needs of the domain.
// *controller.Controller implements it.
type AdminController interface {
	Store() controller.Store
	Registry() *controller.Registry
}

var _ AdminController = (*controller.Controller)(nil)

// AdminOptions configures the admin listener. Controller is required.
type AdminOptions struct {
	Controller AdminController
	Logger     *slog.Logger // default slog.Default()
	// CheckTimeout bounds each readiness check: the store's Ping and each
	// provider's Check (default 2 s). Checks run concurrently.
	CheckTimeout time.Duration
	// MaxHeaderBytes (default 16 KiB), ReadHeaderTimeout (10 s),
	// ReadTimeout (30 s), WriteTimeout (30 s) and IdleTimeout (120 s) go
	// to the http.Server built by Admin.Server.
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
}

// Admin is the admin listener's handler: /healthz and /readyz for now;
// the dashboard, JSON API and metrics join it on the same mux.
type Admin struct {
	ctl     AdminController
	log     *slog.Logger
	checkTO time.Duration
	opts    AdminOptions
	mux     *http.ServeMux
}

var _ http.Handler = (*Admin)(nil)

// NewAdmin builds the admin listener's handler.
func NewAdmin(o AdminOptions) (*Admin, error) {
	if o.Controller == nil {
		return nil, errors.New("web: AdminOptions.Controller is required")
	}
	setDefault(&o.CheckTimeout, 2*time.Second)
	setDefault(&o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&o.ReadTimeout, DefaultReadTimeout)
	setDefault(&o.WriteTimeout, 30*time.Second)
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &Admin{ctl: o.Controller, log: o.Logger, checkTO: o.CheckTimeout, opts: o, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	return a, nil
}

// ServeHTTP routes admin requests.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mux.ServeHTTP(w, r)
}

// Server returns an http.Server for addr serving a with its limits.
func (a *Admin) Server(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           a,
		MaxHeaderBytes:    a.opts.MaxHeaderBytes,
		ReadHeaderTimeout: a.opts.ReadHeaderTimeout,
		ReadTimeout:       a.opts.ReadTimeout,
		WriteTimeout:      a.opts.WriteTimeout,
		IdleTimeout:       a.opts.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// healthz says the process is alive and serving; it checks nothing else,
// so a dependency outage never gets the process restarted.
func (a *Admin) healthz(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness is the /readyz answer. On failure, store and providers say
// what is wrong, in the dependency's own words.
type readiness struct {
	Ready     bool              `json:"ready"`
	Store     string            `json:"store,omitempty"`
	Providers map[string]string `json:"providers,omitempty"`
}

// readyz answers 200 when the store answers its Ping and every provider
// that can check its engine (controller.Checker) passes; otherwise 503
// with what failed.
func (a *Admin) readyz(w http.ResponseWriter, r *http.Request) {
	res := a.check(r.Context())
	status := http.StatusOK
	if !res.Ready {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, r, status, res)
}

func (a *Admin) check(ctx context.Context) readiness {
	checks := map[string]func(context.Context) error{} // "" is the store
	res := readiness{Ready: true}
	fail := func(name string, msg string) {
		res.Ready = false
		if name == "" {
			res.Store = msg
			return
		}
		if res.Providers == nil {
			res.Providers = map[string]string{}
		}
		res.Providers[name] = msg
	}
	if st := a.ctl.Store(); st != nil {
		checks[""] = st.Ping
	} else {
		fail("", "no store configured")
	}
	for name, p := range a.ctl.Registry().Providers() {
		if c, ok := p.(controller.Checker); ok {
			checks[name] = c.Check
		}
	}

	type result struct {
		name string
		err  error
	}
	cctx, cancel := context.WithTimeout(ctx, a.checkTO)
	defer cancel()
	results := make(chan result, len(checks)) // buffered: a late check never blocks
	for name, check := range checks {
		go func() { results <- result{name, check(cctx)} }()
	}
	// A check that ignores its context must not hold /readyz up.
	late := time.NewTimer(a.checkTO + 100*time.Millisecond)
	defer late.Stop()
	for len(checks) > 0 {
		select {
		case r := <-results:
			delete(checks, r.name)
			if r.err != nil {
				fail(r.name, r.err.Error())
			}
		case <-late.C:
			for name := range checks {
				fail(name, "no answer within "+a.checkTO.String())
			}
			clear(checks)
		}
	}
	if !res.Ready {
		a.log.Debug("not ready", "store", res.Store, "providers", res.Providers)
	}
	return res
}
