package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/redact"
)

// maxFormBytes caps the body of a POST to the admin listener: the forms
// carry a CSRF token and a path, the API calls nothing.
const maxFormBytes = 16 << 10

// guarded is a handler that runs once the request is authenticated (and,
// for POST, its CSRF token checked).
type guarded func(w http.ResponseWriter, r *http.Request, p principal)

// routes registers every admin endpoint. API paths answer a method they
// do not support with 405 and a JSON body; unknown API paths with 404 and
// JSON.
func (a *Admin) routes() {
	m := a.mux
	m.HandleFunc("GET /healthz", a.healthz)
	m.HandleFunc("GET /readyz", a.readyz)
	m.HandleFunc("GET "+adminStaticPrefix, a.serveStatic)
	m.HandleFunc("GET /favicon.ico", a.serveFavicon)
	m.HandleFunc("GET /login", a.loginPage)
	m.HandleFunc("POST /login", a.loginSubmit)
	if a.opts.Metrics != nil {
		m.HandleFunc("GET /metrics", a.serveMetrics)
	}

	m.Handle("GET /{$}", a.page(a.dashboard))
	m.Handle("GET /hosts/{host}", a.page(a.hostPage))
	m.Handle("GET /config", a.page(a.configPage))
	m.Handle("POST /logout", a.page(a.logout))

	allowed := map[string][]string{}
	api := func(pattern string, h guarded) {
		method, path, _ := strings.Cut(pattern, " ")
		allowed[path] = append(allowed[path], method)
		m.Handle(pattern, a.apiGuard(h))
	}
	api("GET /api/hosts", a.apiHosts)
	api("GET /api/hosts/{host}", a.apiHost)
	api("POST /api/hosts/{host}/wake", a.apiWake)
	api("POST /api/hosts/{host}/stop", a.apiStop)
	api("GET /api/events", a.apiEvents)
	api("POST /api/reload", a.apiReload)
	if a.opts.Traefik != nil {
		api("GET /api/traefik", func(w http.ResponseWriter, r *http.Request, _ principal) { a.opts.Traefik.ServeHTTP(w, r) })
	}
	for path, methods := range allowed {
		if slices.Contains(methods, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
		allow := strings.Join(methods, ", ")
		m.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			a.fail(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+allow)
		})
	}
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusNotFound, "no such API endpoint")
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusNotFound, "page not found")
	})
}

// apiGuard authenticates an API call: 401 with a JSON body and a
// WWW-Authenticate challenge without valid credentials, 403 for a POST
// whose CSRF token is missing or wrong.
func (a *Admin) apiGuard(h guarded) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.authenticate(r)
		if !ok {
			a.unauthorized(w, r, "authentication required: send Authorization: Bearer <token>, or log in to the dashboard")
			return
		}
		if !a.checkPost(w, r, p) {
			return
		}
		h(w, r.WithContext(withPrincipal(r.Context(), p)), p)
	})
}

// unauthorized answers 401 with a challenge. A request that sent an
// Authorization header is told its token is wrong, not that it sent none:
// the fix differs (check the token, not the script's header).
func (a *Admin) unauthorized(w http.ResponseWriter, r *http.Request, missing string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="waitingroom"`)
	msg := missing
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, _, _ := strings.Cut(auth, " ")
		msg = "the token is not one of admin.tokens: check the value the client sends"
		if !strings.EqualFold(scheme, "Bearer") {
			msg = "unsupported authorization scheme " + strconv.Quote(clip(scheme)) + ": send Authorization: Bearer <token>"
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="waitingroom", error="invalid_token"`)
	}
	a.fail(w, r, http.StatusUnauthorized, msg)
}

// page authenticates a dashboard page: to the login page without
// credentials.
func (a *Admin) page(h guarded) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.authenticate(r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			a.fail(w, r, http.StatusUnauthorized, "log in first")
			return
		}
		if !a.checkPost(w, r, p) {
			return
		}
		h(w, r.WithContext(withPrincipal(r.Context(), p)), p)
	})
}

// checkPost bounds a POST's body and checks its CSRF token.
func (a *Admin) checkPost(w http.ResponseWriter, r *http.Request, p principal) bool {
	if r.Method != http.MethodPost {
		return true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if isForm(r) {
		if err := r.ParseForm(); err != nil {
			a.fail(w, r, http.StatusBadRequest, "unreadable form: "+err.Error())
			return false
		}
	}
	if !a.csrfOK(r, p) {
		a.log.Warn("admin request refused: CSRF token missing or wrong", "path", r.URL.Path, "who", p.display())
		a.fail(w, r, http.StatusForbidden, "CSRF token missing or wrong; reload the page and try again")
		return false
	}
	return true
}

// fail answers with an error: JSON {"error": ...} on the API and for
// clients asking for JSON, a small page otherwise.
func (a *Admin) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	msg = redact.Text(msg) // messages quote errors, which may quote URLs
	if a.jsonClient(r) {
		writeJSON(w, r, status, map[string]string{"error": msg})
		return
	}
	a.renderMessage(w, r, status, http.StatusText(status), msg)
}

// jsonClient tells API callers (and scripts) from browsers submitting
// forms or loading pages.
func (a *Admin) jsonClient(r *http.Request) bool {
	if isForm(r) {
		return false
	}
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" {
		return true
	}
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// hostsJSON is the answer of GET /api/hosts.
type hostsJSON struct {
	Hosts []hostJSON `json:"hosts"`
	// Savings are the priced hosts' totals, one per currency.
	Savings []savingsTotal `json:"savings"`
}

func (a *Admin) apiHosts(w http.ResponseWriter, r *http.Request, _ principal) {
	w.Header().Set("Cache-Control", "no-store")
	hosts := a.hostViews(r.Context())
	writeJSON(w, r, http.StatusOK, hostsJSON{Hosts: hosts, Savings: savingsTotals(hosts)})
}

// hostDetailJSON is the answer of GET /api/hosts/{host}: the host and its
// recent wakes, newest first.
type hostDetailJSON struct {
	hostJSON
	Wakes []*wakeJSON `json:"wakes"`
}

// apiDetailWakes is how many wakes GET /api/hosts/{host} lists.
const apiDetailWakes = 20

func (a *Admin) apiHost(w http.ResponseWriter, r *http.Request, _ principal) {
	h, ok := a.lookup(w, r)
	if !ok {
		return
	}
	d := hostDetailJSON{hostJSON: a.hostView(r.Context(), h), Wakes: []*wakeJSON{}}
	wakes, err := a.ctl.Wakes(r.Context(), h.Name, apiDetailWakes)
	if err == nil {
		for _, wk := range wakes {
			d.Wakes = append(d.Wakes, wakeOf(wk))
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, r, http.StatusOK, d)
}

// lookup finds the {host} of the path in the registry, answering 404
// itself when it is not there.
func (a *Admin) lookup(w http.ResponseWriter, r *http.Request) (controller.Host, bool) {
	name := r.PathValue("host")
	if h, ok := a.ctl.Registry().Lookup(name); ok {
		return h, true
	}
	// Names are stored normalised; accept what a person types.
	if n, ok := ParseHost(name); ok {
		if h, ok := a.ctl.Registry().Lookup(n); ok {
			return h, true
		}
	}
	a.fail(w, r, http.StatusNotFound, "unknown host "+strconv.Quote(name))
	return controller.Host{}, false
}

// clientOf is how a wake from the dashboard or the admin API is recorded.
// The sources "dashboard" and "admin" mark wakes an operator asked for:
// the wake guard counts them against budgets but does not refuse them.
func clientOf(r *http.Request, p principal) controller.Client {
	source := "admin"
	if p.kind == kindUser || (p.kind == kindOpen && p.session != "") {
		source = "dashboard"
	}
	return controller.Client{Source: source, Display: p.display()}
}

func (a *Admin) apiWake(w http.ResponseWriter, r *http.Request, p principal) {
	h, ok := a.lookup(w, r)
	if !ok {
		return
	}
	_, err := a.ctl.Wake(r.Context(), h.Name, clientOf(r, p))
	a.log.Info("wake from the admin listener", "host", h.Name, "who", p.display(), "err", err)
	a.acted(w, r, h, err)
}

func (a *Admin) apiStop(w http.ResponseWriter, r *http.Request, p principal) {
	h, ok := a.lookup(w, r)
	if !ok {
		return
	}
	where := "the admin API"
	if clientOf(r, p).Source == "dashboard" {
		where = "the dashboard"
	}
	_, err := a.ctl.Stop(r.Context(), h.Name, "stopped from "+where+" by "+p.display())
	a.log.Info("stop from the admin listener", "host", h.Name, "who", p.display(), "err", err)
	a.acted(w, r, h, err)
}

// acted answers a wake or stop: 202 and the host's view (the transition
// goes on in the background), or the error. A form from a page without
// JavaScript is sent back where it came from, which confirms it (doneURL).
func (a *Admin) acted(w http.ResponseWriter, r *http.Request, h controller.Host, err error) {
	if err != nil {
		status, msg := errorStatus(err)
		var be *controller.BudgetError
		if errors.As(err, &be) {
			w.Header().Set("Retry-After", strconv.Itoa(int(be.RetryAfter.Round(time.Second)/time.Second)))
		}
		a.fail(w, r, status, msg)
		return
	}
	a.wakeCache.forget(h.Name)
	if !a.jsonClient(r) {
		http.Redirect(w, r, doneURL(safeNext(r.PostFormValue("back")), actionOf(r), h.Name), http.StatusSeeOther)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, r, http.StatusAccepted, a.hostView(r.Context(), h))
}

// reloadResult is the outcome of the latest reload asked for here.
type reloadResult struct {
	At  time.Time
	Err error
}

// reloadJSON is the answer of POST /api/reload.
type reloadJSON struct {
	Reloaded bool      `json:"reloaded"`
	Path     string    `json:"path,omitempty"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	Error    string    `json:"error,omitempty"`
	// Problems lists every problem of a refused file, "FILE:LINE: message".
	Problems []string `json:"problems,omitempty"`
	// RestartNeeded lists the settings the file changes that only a
	// restart applies (page, limits, listeners...); Warning says so.
	RestartNeeded []string `json:"restart_needed,omitempty"`
	Warning       string   `json:"warning,omitempty"`
}

func (a *Admin) apiReload(w http.ResponseWriter, r *http.Request, p principal) {
	if a.opts.Reload == nil {
		a.fail(w, r, http.StatusNotImplemented, "reloading is not available in this process")
		return
	}
	err := a.opts.Reload()
	a.lastReload.Store(&reloadResult{At: a.ctl.Now(), Err: err})
	a.log.Info("configuration reload from the admin listener", "who", p.display(), "ok", err == nil)
	if !a.jsonClient(r) {
		http.Redirect(w, r, "/config", http.StatusSeeOther)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		writeJSON(w, r, http.StatusUnprocessableEntity, reloadJSON{
			Error:    "the configuration file was not applied; the one in use stays",
			Problems: strings.Split(strings.TrimSpace(err.Error()), "\n"),
		})
		return
	}
	res := reloadJSON{Reloaded: true}
	if a.opts.Config != nil {
		ci := a.opts.Config()
		res.Path, res.LoadedAt = ci.Path, ci.LoadedAt.UTC()
		if len(ci.RestartNeeded) > 0 {
			res.RestartNeeded = ci.RestartNeeded
			res.Warning = "applied, but " + restartText(ci.RestartNeeded)
		}
	}
	writeJSON(w, r, http.StatusOK, res)
}

// restartText says which accepted settings wait for a restart: the reload
// API's warning and the configuration page say it in the same words.
func restartText(settings []string) string {
	verb := " take"
	if len(settings) == 1 {
		verb = " takes"
	}
	return strings.Join(settings, ", ") + verb + " effect only after a restart of waitingroom"
}

// serveMetrics serves /metrics: to anyone when metrics_public, else to
// token holders and logged-in operators.
func (a *Admin) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if !a.opts.MetricsPublic {
		if _, ok := a.authenticate(r); !ok {
			a.unauthorized(w, r, "metrics need a token (Authorization: Bearer <token>); set admin.metrics_public to serve them to anyone")
			return
		}
	}
	a.opts.Metrics.ServeHTTP(w, r)
}

// apiEvents streams the dashboard's live updates as Server-Sent Events:
//
//	event: host   data: a host's view (as GET /api/hosts/{host}, without wakes),
//	              for every host at the start, then whenever it changed
//	event: event  data: a state change as the event log shows it
//	event: hosts  data: {"hosts": [names]} when the registry changed (reload)
//
// Host views are re-sent every Refresh when they changed without an
// event (activity, idle countdown). A comment line every Heartbeat.
func (a *Admin) apiEvents(w http.ResponseWriter, r *http.Request, _ principal) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.streams, cancel)
	defer stop()
	events := a.ctl.Subscribe(ctx, "")

	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	setSSEHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return // the headers say it is a stream; there is no body to wait for
	}

	s := &adminStream{w: w, rc: rc, a: a, last: map[string][]byte{}}
	appendSSERetry(&s.buf, 2*time.Second)
	names := a.hostNames()
	if !s.views(a.hostViews(ctx)) || !s.flush() {
		return
	}
	refresh := time.NewTicker(a.opts.Refresh)
	defer refresh.Stop()
	beat := time.NewTicker(a.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			a.wakeCache.forget(e.Host)
			if !s.send("event", entryOf(e)) {
				return
			}
			if host, ok := a.ctl.Registry().Lookup(e.Host); ok {
				if !s.views([]hostJSON{a.hostView(ctx, host)}) {
					return
				}
			}
		case <-refresh.C:
			if now := a.hostNames(); !slices.Equal(now, names) {
				names = now
				if !s.send("hosts", map[string][]string{"hosts": names}) {
					return
				}
			}
			if !s.views(a.hostViews(ctx)) {
				return
			}
		case <-beat.C:
			s.buf.WriteString(sseHeartbeat)
		}
		if !s.flush() {
			return
		}
	}
}

func (a *Admin) hostNames() []string {
	hosts := a.ctl.Registry().Hosts()
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	return names
}

// adminStream writes one client's event stream.
type adminStream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	a    *Admin
	buf  bytes.Buffer
	last map[string][]byte // host → the view last sent
}

// views queues the views that differ from those last sent.
func (s *adminStream) views(vs []hostJSON) bool {
	for _, v := range vs {
		data, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if bytes.Equal(s.last[v.Host], data) {
			continue
		}
		s.last[v.Host] = data
		s.write("host", data)
	}
	return true
}

func (s *adminStream) send(event string, v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		s.a.log.Error("encoding an admin event", "err", err)
		return false
	}
	s.write(event, data)
	return true
}

func (s *adminStream) write(event string, data []byte) { appendSSEEvent(&s.buf, event, data) }

// flush writes what is queued within a deadline: a client that stopped
// reading is dropped rather than holding the stream forever.
func (s *adminStream) flush() bool {
	if s.buf.Len() == 0 {
		return true
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.a.opts.Heartbeat + 10*time.Second))
	_, err := s.w.Write(s.buf.Bytes())
	s.buf.Reset()
	if err == nil {
		err = s.rc.Flush()
	}
	return err == nil
}
