package web

import (
	"net/http"
	"net/url"
	"path"
	"time"
)

// Without JavaScript the dashboard's forms post and come back: the page
// they return to says what was done, and every hosts page reloads itself
// (a <meta http-equiv="refresh"> inside <noscript>, which the
// Content-Security-Policy does not govern and a page with scripts
// ignores: those update live).

// noJSRefresh bounds how often a page without scripts reloads itself:
// the event streams' refresh, but never faster than this.
const noJSRefresh = 5 * time.Second

// doneRefresh is how soon a page confirming an action reloads, to show
// the host's new state (and drop the confirmation from its address).
const doneRefresh = 3 * time.Second

// doneURL is where a form sent without JavaScript goes back to: back,
// saying which action was done to which host.
func doneURL(back, action, host string) string {
	u, err := url.Parse(back)
	if err != nil {
		return "/"
	}
	q := u.Query()
	q.Set("done", action)
	q.Set("host", host)
	u.RawQuery = q.Encode()
	return u.String()
}

// actionOf names the action of a wake or stop request from its path.
func actionOf(r *http.Request) string { return path.Base(r.URL.Path) }

// noJS fills in a hosts page's refresh and its confirmation of an action
// (only a wake or a stop of a registered host: nothing else from the
// address is shown).
func (a *Admin) noJS(b *pageBase, r *http.Request) {
	b.Refresh = int(max(a.opts.Refresh, noJSRefresh) / time.Second)
	q := r.URL.Query()
	host := q.Get("host")
	if _, ok := a.ctl.Registry().Lookup(host); !ok {
		return
	}
	switch q.Get("done") {
	case "stop":
		b.Notice = "Stop requested: " + host + " is going to sleep. Visitors get the waiting page until it is woken again."
	case "wake":
		b.Notice = "Wake requested: " + host + " is waking up."
	default:
		return
	}
	b.Refresh, b.RefreshURL = int(doneRefresh/time.Second), r.URL.Path
}
