package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/redact"
)

//go:embed templates/admin/*.html static/admin
var adminFS embed.FS

// adminStaticPrefix is where the dashboard's script and style files are
// served on the admin listener.
const adminStaticPrefix = "/static/admin/"

// adminPages are the dashboard's templates, each parsed with the layout.
type adminPages struct {
	byName map[string]*template.Template
}

var adminPageNames = []string{"dashboard", "host", "config", "login", "message"}

func adminFuncs() template.FuncMap {
	return template.FuncMap{
		"ago":      agoText,
		"dur":      durationText,
		"secs":     func(s float64) string { return durationText(time.Duration(s * float64(time.Second))) },
		"intSecs":  func(s int) string { return durationText(time.Duration(s) * time.Second) },
		"iso":      func(t time.Time) string { return isoTime(t) },
		"utc":      func(t time.Time) string { return utcText(t) },
		"idle":     idleText,
		"budget":   budgetText,
		"lastWake": lastWakeText,
		"sleep":    sleepWords,
		"money":    moneyText,
		"restart":  restartText,
		"asleepShare": func(s *savingsJSON) string {
			return percentText(s.AsleepHours, s.AsleepHours+s.AwakeHours)
		},
		"hostPath": func(host string) string { return "/hosts/" + url.PathEscape(host) },
		"apiPath": func(host, action string) string {
			return "/api/hosts/" + url.PathEscape(host) + "/" + action
		},
		"canWake": func(s controller.State) bool {
			return s != controller.StateRunning && s != controller.StateStarting
		},
		"canStop": func(s controller.State) bool {
			return s == controller.StateRunning || s == controller.StateFailed || s == controller.StateUnknown
		},
	}
}

func loadAdminPages() (*adminPages, error) {
	p := &adminPages{byName: map[string]*template.Template{}}
	for _, name := range adminPageNames {
		t, err := template.New("layout.html").Funcs(adminFuncs()).ParseFS(adminFS,
			"templates/admin/layout.html", "templates/admin/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("admin template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func utcText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// idleText is the "idle stop" column: when the idle sweep will stop the
// host, judged from its activity.
func idleText(h hostJSON) string {
	switch {
	case h.IdleInSeconds == nil:
		return "—"
	case *h.IdleInSeconds <= 0:
		return "due now"
	}
	return "in " + durationText(time.Duration(*h.IdleInSeconds)*time.Second)
}

// budgetText is the "wakes today" column.
func budgetText(h hostJSON) string {
	if h.BudgetLeft == nil {
		// "no budget" read as "budget used up": say there is no cap.
		return strconv.Itoa(h.WakesToday) + " (no limit)"
	}
	return fmt.Sprintf("%d of %d (%d left)", h.WakesToday, h.MaxWakesPerDay, *h.BudgetLeft)
}

// lastWakeText is the "last wake" column.
func lastWakeText(w *wakeJSON) string {
	if w == nil {
		return "—"
	}
	d := durationText(time.Duration(w.DurationSeconds * float64(time.Second)))
	if w.Result == string(controller.WakeRunning) {
		return d
	}
	return "failed after " + d
}

// pageBase is what every dashboard page shows around its content.
type pageBase struct {
	Title  string
	Nav    string // which menu entry is current
	Who    string // the operator's name; "" with open access
	Open   bool   // nobody needs to log in
	Logout bool   // show the log-out button
	CSRF   string
	Static string
	Now    time.Time
	// Without JavaScript: Refresh reloads the page every so many seconds
	// (0: never), to RefreshURL when set; Notice confirms what a form
	// just did.
	Refresh    int
	RefreshURL string
	Notice     string
}

func (a *Admin) base(w http.ResponseWriter, r *http.Request, p *principal, title, nav string) pageBase {
	b := pageBase{Title: title, Nav: nav, Static: adminStaticPrefix, Now: a.ctl.Now()}
	b.CSRF = a.csrfFor(w, r, p)
	if nav == "hosts" {
		a.noJS(&b, r)
	}
	switch p.kind {
	case kindUser:
		b.Who, b.Logout = p.name, true
	case kindToken:
		b.Who = "token " + p.name
	case kindOpen:
		b.Open = true
	}
	return b
}

// render executes a page into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (a *Admin) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := a.pages.byName[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		a.log.Error("rendering an admin page", "page", name, "err", err)
		http.Error(w, "page unavailable", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

type messageData struct {
	pageBase
	Heading string
	Message string
}

func (a *Admin) renderMessage(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	p := principalOf(r.Context())
	d := messageData{pageBase: pageBase{Title: heading, Static: adminStaticPrefix, Now: a.ctl.Now()}, Heading: heading, Message: msg}
	if p.kind == kindUser {
		d.Who = p.name
	}
	a.render(w, r, status, "message", d)
}

// dashboardLog is how many events the dashboard page lists at first.
const dashboardLog = 200

type dashboardData struct {
	pageBase
	Hosts   []hostJSON
	Savings []savingsView
	Log     []logEntry
}

// savingsView is one currency's totals at the top of the dashboard.
type savingsView struct {
	savingsTotal
	Chart template.HTML
}

func (a *Admin) dashboard(w http.ResponseWriter, r *http.Request, p principal) {
	d := dashboardData{pageBase: a.base(w, r, &p, "Hosts", "hosts")}
	d.Hosts = a.hostViews(r.Context())
	for _, t := range savingsTotals(d.Hosts) {
		d.Savings = append(d.Savings, savingsView{savingsTotal: t, Chart: savingsChart(t)})
	}
	d.Log = a.feed.entries("", min(dashboardLog, a.opts.EventLogSize))
	a.render(w, r, http.StatusOK, "dashboard", d)
}

// hostPageWakes is how many wakes the host page lists.
const hostPageWakes = 50

type hostPageData struct {
	pageBase
	Host  hostJSON
	Wakes []*wakeJSON
	Chart template.HTML
	// DayTimeline and MonthTimeline are the host's states over the last
	// 24 hours and the last 30 days, from the store's records.
	DayTimeline, MonthTimeline template.HTML
	Log                        []logEntry
	// HistoryProblem is set when the wake history cannot be read.
	HistoryProblem string
}

func (a *Admin) hostPage(w http.ResponseWriter, r *http.Request, p principal) {
	h, ok := a.lookup(w, r)
	if !ok {
		return
	}
	d := hostPageData{pageBase: a.base(w, r, &p, h.Name, "hosts")}
	d.Host = a.hostView(r.Context(), h)
	wakes, err := a.ctl.Wakes(r.Context(), h.Name, hostPageWakes)
	if err != nil {
		d.HistoryProblem = redact.Text(err.Error())
	}
	for _, wk := range wakes {
		d.Wakes = append(d.Wakes, wakeOf(wk))
	}
	d.Chart = wakeChart(wakes)
	now := a.ctl.Now()
	if _, changes, err := a.wakeCache.get(r.Context(), a.ctl, h.Name, now); err == nil {
		if _, rec, err := a.ctl.Status(r.Context(), h.Name); err == nil {
			l := controller.Account(h.Name, changes, rec, h.Price, now, controller.LedgerDays)
			d.DayTimeline = timelineChart(l, now.Add(-24*time.Hour), now, "The last 24 hours")
			d.MonthTimeline = timelineChart(l, l.Days[0].Start, now, "The last 30 days")
		}
	}
	d.Log = a.feed.entries(h.Name, 50)
	a.render(w, r, http.StatusOK, "host", d)
}

type configData struct {
	pageBase
	Available bool
	Info      ConfigInfo
	CanReload bool
	// Reload is the latest reload asked for from the dashboard or API.
	Reload *reloadResult
	// FileError is the error of the latest reload attempt of any origin
	// (file watcher, SIGHUP), when it is not the same as Reload's.
	FileError string
}

func (a *Admin) configPage(w http.ResponseWriter, r *http.Request, p principal) {
	d := configData{pageBase: a.base(w, r, &p, "Configuration", "config"), CanReload: a.opts.Reload != nil}
	if a.opts.Config != nil {
		d.Available = true
		d.Info = a.opts.Config()
	}
	d.Reload = a.lastReload.Load()
	if d.Info.LastError != nil && (d.Reload == nil || d.Reload.Err == nil || d.Reload.Err.Error() != d.Info.LastError.Error()) {
		d.FileError = d.Info.LastError.Error()
	}
	a.render(w, r, http.StatusOK, "config", d)
}

type loginData struct {
	pageBase
	Next  string
	User  string
	Error string
}

func (a *Admin) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if p, ok := a.authenticate(r); ok && p.kind != kindToken {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	a.render(w, r, http.StatusOK, "login", loginData{pageBase: pageBase{Title: "Log in", Static: adminStaticPrefix}, Next: next})
}

// loginSubmit checks a user name and password. Attempts are rate-limited
// per client address before the (deliberately slow) bcrypt comparison.
func (a *Admin) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		a.fail(w, r, http.StatusBadRequest, "unreadable form")
		return
	}
	next := safeNext(r.PostFormValue("next"))
	creds := a.creds.Load()
	if creds.open() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	user := r.PostFormValue("user")
	d := loginData{pageBase: pageBase{Title: "Log in", Static: adminStaticPrefix}, Next: next, User: user}
	client := a.clientIP(r)
	ok, wait, undo := a.limiter.take(limitKey(client), time.Now())
	if !ok {
		secs := int(wait/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		a.log.Warn("admin login rate-limited", "client", TruncateIP(client), "user", user)
		d.Error = fmt.Sprintf("Too many login attempts from your address. Try again in %d s.", secs)
		a.render(w, r, http.StatusTooManyRequests, "login", d)
		return
	}
	release, ok := a.gate.enter(r.Context())
	if !ok {
		undo() // no password was checked: the attempt does not count against the address
		w.Header().Set("Retry-After", "1")
		a.log.Warn("admin login refused: too many password checks at once", "client", TruncateIP(client), "user", user)
		d.Error = "Too many logins are being checked right now. Try again in a second."
		a.render(w, r, http.StatusServiceUnavailable, "login", d)
		return
	}
	right := creds.checkPassword(user, r.PostFormValue("password"))
	release()
	if !right {
		a.log.Warn("admin login failed", "client", TruncateIP(client), "user", user)
		d.Error = "Wrong user name or password."
		a.render(w, r, http.StatusUnauthorized, "login", d)
		return
	}
	fp, _ := creds.fingerprint(user)
	sess := sessionData{User: user, ID: newSessionID(), Exp: a.ctl.Now().Add(a.opts.SessionTTL).Unix(), FP: fp}
	a.recordSession(r.Context(), sess)
	a.setSession(w, r, sess)
	a.log.Info("admin login", "user", user, "client", TruncateIP(client))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *Admin) logout(w http.ResponseWriter, r *http.Request, p principal) {
	if p.kind == kindUser {
		if err := a.revokeSession(r.Context(), p.data); err != nil {
			a.log.Error("admin logout: the session could not be revoked in the store", "user", p.name, "err", err)
			a.fail(w, r, http.StatusServiceUnavailable, "logging out failed: the session could not be ended on every replica ("+err.Error()+"); try again")
			return
		}
		a.log.Info("admin logout", "user", p.name)
	}
	a.clearSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// serveFavicon answers the /favicon.ico browsers ask for by themselves
// (older ones ignore <link rel="icon">) with the dashboard's SVG icon,
// rather than a 404 in the log of every page.
func (a *Admin) serveFavicon(w http.ResponseWriter, r *http.Request) {
	b, err := adminFS.ReadFile("static/admin/favicon.svg")
	if err != nil {
		a.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "max-age=86400")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

func (a *Admin) serveStatic(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/") {
		a.fail(w, r, http.StatusNotFound, "not found") // no directory listings
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	a.static.ServeHTTP(w, r)
}
