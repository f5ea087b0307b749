package web

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/clientclass"
)

// RemoteAddrIP is the default PublicOptions.ClientIP: the address of the
// connection's peer. It ignores X-Forwarded-For and X-Real-Ip, which any
// client can forge; honouring them for trusted proxies only is the job of
// a ClientIP function built from the trusted_proxies setting. It returns
// the zero Addr when RemoteAddr cannot be parsed.
func RemoteAddrIP(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// TruncateIP is how a client address is shown in logs and wake history:
// an IPv4 address keeps its /24 ("203.0.113.x"), an IPv6 address its /64
// ("2001:db8:abcd:12::x"). Client addresses are personal data; a truncated
// one still tells an operator roughly where a wake came from. The zero Addr
// gives "".
func TruncateIP(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return strconv.Itoa(int(b[0])) + "." + strconv.Itoa(int(b[1])) + "." + strconv.Itoa(int(b[2])) + ".x"
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ""
	}
	s := p.Addr().String() // "2001:db8:abcd:12::"
	s = strings.TrimSuffix(s, "::")
	return s + "::x"
}

// Client classes (controller.Client.Class) the public listener assigns.
const (
	ClassBrowser = string(clientclass.ClassBrowser)
	ClassBot     = string(clientclass.ClassBot)
	ClassAPI     = string(clientclass.ClassAPI)
)

// defaultClasses is the classifier of a listener without a Policy: the
// built-in lists of the one classifier (internal/clientclass).
var defaultClasses = clientclass.New(clientclass.Options{})

// UserAgentClass sorts a request into ClassBrowser, ClassBot or ClassAPI
// (or clientclass's monitor and prefetch) with the built-in lists; a
// Policy configures its own. It is a label for logs, budgets and bot
// rules, not a security boundary: any client can claim anything.
func UserAgentClass(r *http.Request) string {
	return string(defaultClasses.Classify(r))
}

// wantsJSON reports whether the client asked for JSON rather than a page:
// Accept names application/json (or a +json type) and not text/html.
// Browsers always list text/html for navigations.
func wantsJSON(r *http.Request) bool {
	acc := r.Header.Values("Accept")
	json, html := false, false
	for _, v := range acc {
		lv := strings.ToLower(v)
		if strings.Contains(lv, "application/json") || strings.Contains(lv, "+json") {
			json = true
		}
		if strings.Contains(lv, "text/html") {
			html = true
		}
	}
	return json && !html
}

// clientOf describes the requester for the controller: anonymised, never
// the raw request.
func (p *Public) clientOf(r *http.Request) controller.Client {
	if p.policy != nil {
		return p.policy.Client(r)
	}
	return controller.Client{
		Display: TruncateIP(p.clientIP(r)),
		Class:   UserAgentClass(r),
		Source:  "page",
	}
}
