package activity

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/waitingroom/waitingroom/config"
)

// ClassMonitor is the controller.Client.Class of uptime monitors.
const ClassMonitor = "monitor"

// DefaultMonitorUserAgents are substrings (matched case-insensitively) of
// the user agents of well-known uptime monitors. monitors.user_agents adds
// to them.
func DefaultMonitorUserAgents() []string {
	return []string{
		"UptimeRobot",
		"Pingdom",
		"StatusCake",
		"Better Stack", "BetterStack", "Better Uptime", "BetterUptime",
		"Site24x7",
		"NewRelicPinger",
		"Datadog/Synthetics", "DatadogSynthetics",
		"Checkly",
		"Uptime-Kuma", "Uptime Kuma",
		"HetrixTools",
		"Freshping",
	}
}

// Monitors recognises uptime monitors: they neither wake a host nor count
// as activity, and get a fixed answer, so a sleeping app is not reported
// DOWN and a monitor does not keep it awake forever. The public listener
// must ask before its bot rules: most monitors' user agents say "bot".
type Monitors struct {
	agents []string // lower case
	paths  []string
	status int
	body   string
}

// NewMonitors builds a Monitors from the monitors: settings. A zero value
// (nothing configured) answers 200 "sleeping".
func NewMonitors(m config.Monitors) *Monitors {
	out := &Monitors{status: m.Status, body: m.Body}
	if m.Status == 0 {
		out.status = http.StatusOK
		if m.Body == "" {
			out.body = "sleeping"
		}
	}
	for _, a := range append(DefaultMonitorUserAgents(), m.UserAgents...) {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
			out.agents = append(out.agents, a)
		}
	}
	for _, p := range m.Paths {
		if p != "" {
			out.paths = append(out.paths, p)
		}
	}
	return out
}

// IsMonitor reports whether r comes from an uptime monitor: a known user
// agent, or a monitor path. A path ending in "/" matches everything under
// it; other paths match exactly. Like every user-agent rule it is a label,
// not a security boundary: a client claiming to be a monitor only gets the
// sleeping answer instead of a wake.
func (m *Monitors) IsMonitor(r *http.Request) bool {
	for _, p := range m.paths {
		if r.URL.Path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(r.URL.Path, p)) {
			return true
		}
	}
	ua := r.Header.Get("User-Agent")
	if ua == "" {
		return false
	}
	ua = strings.ToLower(ua)
	for _, a := range m.agents {
		if strings.Contains(ua, a) {
			return true
		}
	}
	return false
}

// Answer writes the configured answer for monitors. It must not be cached:
// the same URL gets the real site once the host is awake.
func (m *Monitors) Answer(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(m.body)))
	w.WriteHeader(m.status)
	_, _ = w.Write([]byte(m.body))
}
