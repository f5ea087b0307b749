package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// adminHosts is the rule for which names the admin listener answers to:
// the defence against DNS rebinding.
//
// A page on evil.example whose DNS name is rebound to 127.0.0.1 talks to
// the admin listener as its own origin: the browser sends "Host:
// evil.example:8081" and "Origin: http://evil.example:8081", which agree
// with each other, so comparing them proves nothing. What the attacker
// cannot choose is the name: the admin answers only
//
//   - IP literals: a page served from an address is that address's origin
//     and cannot be rebound to another (its DNS is not consulted);
//   - "localhost", which resolves on the machine itself and no site owns;
//   - the names the operator configured (admin.hosts): how a proxy, Traefik
//     or a person reaches the dashboard.
//
// Every other Host is refused (421 Misdirected Request) before
// authentication, in every auth mode: with users the attacker would still
// need a password, but the login page and its rate limit are not theirs to
// use either.
type adminHosts struct {
	names map[string]bool // normalised (ParseHost) configured names
}

func newAdminHosts(names []string) adminHosts {
	h := adminHosts{names: map[string]bool{"localhost": true}}
	for _, n := range names {
		if p, ok := ParseHost(n); ok {
			h.names[p] = true
		}
	}
	return h
}

// allowed reports whether a Host header (name or address, with or without a
// port) is one the admin answers to.
func (h adminHosts) allowed(host string) bool {
	name, ok := ParseHost(host)
	if !ok {
		return false
	}
	return h.names[name] || isIPHost(name)
}

// allowedOrigin reports whether an Origin header names an allowed host.
// "null" is left to the Fetch Metadata check that follows
// (http.CrossOriginProtection): browsers send it for opaque origins, but
// also for the dashboard's own forms, whose pages carry
// Referrer-Policy: no-referrer.
func (h adminHosts) allowedOrigin(origin string) bool {
	if origin == "null" {
		return true
	}
	u, err := url.Parse(origin)
	// An origin is exactly scheme://host[:port]; anything more is not one.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || origin != u.Scheme+"://"+u.Host {
		return false
	}
	return h.allowed(u.Host)
}

// check refuses a request that reached the admin under a name it does not
// answer to, or whose Origin names one. It answers the refusal itself.
func (h adminHosts) check(w http.ResponseWriter, r *http.Request, fail func(http.ResponseWriter, *http.Request, int, string)) bool {
	if !h.allowed(r.Host) {
		fail(w, r, http.StatusMisdirectedRequest, "this admin listener does not answer to the name "+strconv.Quote(clip(r.Host))+
			"; reach it by IP address or localhost, or add the name to admin.hosts")
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && !h.allowedOrigin(o) {
		fail(w, r, http.StatusForbidden, "cross-origin request refused: origin "+strconv.Quote(clip(o))+" is not a name of this admin listener")
		return false
	}
	return true
}

// clip bounds a header echoed in an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
