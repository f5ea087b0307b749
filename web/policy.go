package web

import (
	"context"
	"net/http"

	"github.com/waitingroom/waitingroom/controller"
)

// Policy decides who a request comes from and what it may do: client
// identity behind trusted proxies, bots and prefetches that get the page
// without waking anything, uptime monitors, the honeypot, and the signed
// tokens of click-to-wake hosts. cmd builds one from the guard package;
// without one, the client is the TCP peer and only HEAD/OPTIONS don't wake.
type Policy interface {
	// Client identifies the requester, anonymised (a keyed hash and a
	// truncated address), and classifies it.
	Client(r *http.Request) controller.Client
	// MayWake says whether a request from c may wake a backend; why
	// explains a refusal for the log.
	MayWake(r *http.Request, c controller.Client) (ok bool, why string)
	// Monitor reports whether c is an uptime monitor (or the request goes
	// to a monitor path): it gets MonitorAnswer, no wake, no activity.
	Monitor(r *http.Request, c controller.Client) bool
	// Honeypot marks the client behind r when r is its own navigation to
	// host's invisible link (a link no person sees): it may not wake host
	// for a while. marked is false when r is not such a navigation (an
	// <img> on another site, a prefetch, no Fetch Metadata): nobody is
	// marked.
	Honeypot(ctx context.Context, r *http.Request, host string) (marked bool, err error)
	// WakeToken signs a short-lived token for a click-to-wake button;
	// VerifyWakeToken checks one for host.
	WakeToken(host string) string
	VerifyWakeToken(host, token string) error
}

// MonitorAnswer is what uptime monitors get from a sleeping host, so the
// app is not reported down while it sleeps.
type MonitorAnswer struct {
	Status int    // default 200
	Body   string // default "sleeping"
}

// Holder holds requests of API clients while the backend wakes and then
// forwards them (hold.Holder implements it).
type Holder interface {
	ShouldHold(r *http.Request, h controller.Host) bool
	Serve(w http.ResponseWriter, r *http.Request, h controller.Host, c controller.Client)
	// Handoff forwards a request for a running host to its backend at
	// once. When the backend does not answer (or its address is not
	// known) it writes nothing, has the host re-read, and returns an
	// error: the caller answers with the host's new state.
	Handoff(w http.ResponseWriter, r *http.Request, h controller.Host) error
	// Resendable reports whether r may be forwarded to a backend that is
	// already running, which may have answered it before.
	Resendable(r *http.Request) bool
	// Untried strips the mark of a request a proxy sends without having
	// tried the backend, and reports whether r carried it.
	Untried(r *http.Request) (*http.Request, bool)
	// Recheck has the host re-read (bounded): it is recorded running, yet
	// a request for it reached waitingroom and could not be forwarded.
	Recheck(ctx context.Context, host string)
}

// Paths under /.waitingroom/ that Policy features use.
const (
	// WakePath receives the click-to-wake form: POST with field "token".
	WakePath = internalPrefix + "wake"
	// HoneypotPath is the invisible link of the waiting page.
	HoneypotPath = internalPrefix + "more"
)
