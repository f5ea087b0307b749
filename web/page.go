package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*.css static/*.js
var staticFS embed.FS

// StaticPrefix is where the embedded JavaScript and CSS are served on the
// public listener. Templates get it as PageData.Static.
const StaticPrefix = "/.waitingroom/static/"

// PageData is what the waiting page template is executed with; an operator
// template (page.template in the configuration) gets exactly these fields.
// Durations are time.Duration (use the "seconds" and "about" functions, or
// the ready-made *Text fields); times are time.Time in UTC.
//
//	Host          the normalised host name: "app.example.com"
//	Name          what the page calls the host: its display name
//	              (hosts[].page.name), else Host
//	Logo          the URL of the host's logo ("" none): same origin
//	Accent        the host's accent colour, "#rgb" or "#rrggbb" ("" none)
//	Background    the host's background colour (light scheme), or ""
//	Lang          the visitor's language, from Accept-Language: "en",
//	              "ja", "zh-Hans" (<html lang>, and {{t .Lang "key"}})
//	State         the state's machine name: stopped, starting, running,
//	              stopping, failed or unknown (also data-state for wait.js)
//	StateWords    the state as a person reads it: "waking up", "asleep", ...
//	Message       one sentence saying what is going on, ready to show
//	Elapsed       time since the wake began (0 unless starting or stopping)
//	ElapsedText   Elapsed in words: "12 s", "1 min 5 s"
//	Estimate      the typical wake duration (median of recent wakes)
//	HasEstimate   whether Estimate is known (no successful wake yet: false)
//	Remaining     Estimate minus Elapsed; negative when overdue
//	RemainingText "about 40 s", "any moment now", or "" without an estimate
//	Failed        the last wake failed
//	Reason        why it failed (the provider's words); may be empty
//	RetryAt       when the failed wake is tried again (zero: not failed)
//	RetryAtText   RetryAt as "15:04:05 UTC", or ""
//	OverBudget    a wake budget refused the wake: nothing was started
//	Budget        which budget ("host per day"), when OverBudget
//	Blocked       this client may not wake the host for a while: it
//	              followed the page's hidden honeypot link
//	Problem       a temporary problem of waitingroom itself ("" when none),
//	              e.g. the state store is unreachable; the page retries
//	RetryAfter    seconds until the page reloads itself (also the
//	              Retry-After header and the meta refresh)
//	Status        the HTTP status of the answer: page.status (503 by
//	              default), 429 over budget, 503 on a Problem
//	Nonce         a fresh value per answer for nonce="{{.Nonce}}" on inline
//	              <script> and <style>; the Content-Security-Policy allows
//	              nothing else inline
//	Static        "/.waitingroom/static/", where wait.js and wait.css live
//	Now           when the page was rendered
//
// Functions available in templates: seconds (Duration → whole seconds,
// rounded up), about (Duration → "about 40 s" / "any moment now"),
// elapsed (Duration → "1 min 5 s") and t (t LANG KEY [NAME VALUE]...: a
// message of web/locales in that language, {NAME} filled in).
type PageData struct {
	Host          string
	Name          string
	Logo          string
	Accent        string
	Background    string
	Lang          string
	State         controller.State
	StateWords    string
	Message       string
	Elapsed       time.Duration
	ElapsedText   string
	Estimate      time.Duration
	HasEstimate   bool
	Remaining     time.Duration
	RemainingText string
	Failed        bool
	Reason        string
	RetryAt       time.Time
	RetryAtText   string
	OverBudget    bool
	Budget        string
	Blocked       bool
	Problem       string
	RetryAfter    int
	Status        int
	Nonce         string
	Static        string
	Now           time.Time
	// WakeToken and WakeAction are set for a sleeping `wake: click` host:
	// the page shows a button that POSTs the token to WakeAction.
	WakeToken  string
	WakeAction string
	// Honeypot is the URL of a link no person sees; empty: none.
	Honeypot string
}

// templateFuncs are the functions templates may call; "about" and
// "elapsed" word in English, "t" in the page's language.
func templateFuncs(c *catalog) template.FuncMap {
	return template.FuncMap{
		"seconds": ceilSeconds,
		"about":   func(d time.Duration) string { return c.about(fallbackLang, d) },
		"elapsed": func(d time.Duration) string { return c.elapsed(fallbackLang, d) },
		"t":       c.text,
	}
}

// defaultTemplate parses the built-in waiting page.
func defaultTemplate() (*template.Template, error) {
	c, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	t, err := template.New("wait.html").Funcs(templateFuncs(c)).ParseFS(templateFS, "templates/wait.html")
	if err != nil {
		return nil, fmt.Errorf("built-in waiting page: %w", err)
	}
	return t, nil
}

// LoadTemplate reads an operator's waiting page: a file in html/template
// syntax executed with PageData (see TEMPLATE.md). The template is
// executed once per kind of page (waking, failed, over budget, temporary
// problem) with sample data, so a misspelt field is an error here, at
// load, rather than a broken page later.
func LoadTemplate(path string) (*template.Template, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("page template: %w", err)
	}
	c, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	t, err := template.New(path).Funcs(templateFuncs(c)).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("page template %s: %w", path, err)
	}
	for _, d := range samplePages() {
		if err := t.Execute(io.Discard, d); err != nil {
			return nil, fmt.Errorf("page template %s (rendering a %s page): %w", path, d.State, err)
		}
	}
	return t, nil
}

// samplePages are the kinds of page a template must be able to render.
func samplePages() []PageData {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := PageData{Host: "app.example.com", Name: "app.example.com", Lang: fallbackLang, Static: StaticPrefix, Nonce: "sample", Now: now, Status: 503, RetryAfter: 5}
	starting := base
	starting.State = controller.StateStarting
	starting.StateWords = starting.State.Words()
	starting.Elapsed, starting.Estimate, starting.HasEstimate = 12*time.Second, 40*time.Second, true
	starting.Remaining = 28 * time.Second
	starting.ElapsedText, starting.RemainingText = "12 s", "about 30 s"
	starting.Message = "app.example.com is waking up."
	failed := base
	failed.State = controller.StateFailed
	failed.StateWords = failed.State.Words()
	failed.Failed, failed.Reason = true, "start: exit status 1"
	failed.RetryAt, failed.RetryAtText = now.Add(time.Minute), "03:05:05 UTC"
	budget := base
	budget.State, budget.StateWords = controller.StateStopped, controller.StateStopped.Words()
	budget.OverBudget, budget.Budget, budget.Status, budget.RetryAfter = true, "host per day", 429, 3600
	problem := base
	problem.State, problem.StateWords = controller.StateUnknown, controller.StateUnknown.Words()
	problem.Problem = "waitingroom cannot reach its state store right now"
	branded := starting
	branded.Name, branded.Logo, branded.Accent, branded.Background = "Example Shop", LogoPath+"?v=0123456789ab", "#2f6fde", "#fff"
	return []PageData{starting, failed, budget, problem, branded}
}

// render executes t into a buffer so a failing template never sends half a
// page.
func render(t *template.Template, d *PageData) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(4096)
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ceilSeconds is d in whole seconds, rounded up; never negative.
func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}
