package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestTruncateIP(t *testing.T) {
	tests := map[string]string{
		"203.0.113.45":                  "203.0.113.x",
		"::ffff:203.0.113.45":           "203.0.113.x",
		"2001:db8:abcd:12:1:2:3:4":      "2001:db8:abcd:12::x",
		"2001:db8::1":                   "2001:db8::x",
		"::1":                           "::x",
		"fe80::1":                       "fe80::x",
		"2001:db8:abcd:12:0:0:0:1":      "2001:db8:abcd:12::x",
		"2001:db8:0:0:ffff:ffff:0:1":    "2001:db8::x",
		"2001:db8:aaaa:bbbb:cccc::dddd": "2001:db8:aaaa:bbbb::x",
	}
	for in, want := range tests {
		if got := TruncateIP(netip.MustParseAddr(in)); got != want {
			t.Errorf("TruncateIP(%s) = %q, want %q", in, got, want)
		}
	}
	if got := TruncateIP(netip.Addr{}); got != "" {
		t.Errorf("TruncateIP(zero) = %q", got)
	}
}

func TestRemoteAddrIP(t *testing.T) {
	tests := map[string]string{
		"203.0.113.45:5000":        "203.0.113.45",
		"[2001:db8::1]:443":        "2001:db8::1",
		"[::ffff:203.0.113.45]:80": "203.0.113.45",
		"203.0.113.45":             "203.0.113.45",
		"garbage":                  "invalid IP",
		"":                         "invalid IP",
	}
	for in, want := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = in
		r.Header.Set("X-Forwarded-For", "192.0.2.1")
		if got := RemoteAddrIP(r).String(); got != want {
			t.Errorf("RemoteAddrIP(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestUserAgentClass(t *testing.T) {
	tests := []struct {
		ua, accept, want string
	}{
		{browserUA, "text/html,*/*", ClassBrowser},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1", "text/html", ClassBrowser},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/130.0 Safari/537.36", "text/html", ClassBrowser},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "*/*", ClassBot},
		{"Mozilla/5.0 (compatible; bingbot/2.0)", "*/*", ClassBot},
		{"facebookexternalhit/1.1", "*/*", ClassBot},
		{"Slackbot-LinkExpanding 1.0", "*/*", ClassBot},
		{"WhatsApp/2.23.20.0", "*/*", ClassBot},
		{"", "text/html", ClassBot},
		{"curl/8.5.0", "*/*", ClassAPI},
		{"Go-http-client/1.1", "", ClassAPI},
		{"python-requests/2.31", "*/*", ClassAPI},
		{browserUA, "application/json", ClassAPI},
		{"MyApp/1.0", "*/*", ClassAPI},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("User-Agent", tt.ua)
		r.Header.Set("Accept", tt.accept)
		if got := UserAgentClass(r); got != tt.want {
			t.Errorf("UserAgentClass(%q, Accept %q) = %s, want %s", tt.ua, tt.accept, got, tt.want)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	tests := map[string]bool{
		"application/json":                    true,
		"application/json, text/plain, */*":   true,
		"application/problem+json":            true,
		"text/html,application/xhtml+xml,*/*": false,
		"text/html, application/json;q=0.9":   false,
		"*/*":                                 false,
		"":                                    false,
	}
	for accept, want := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := wantsJSON(r); got != want {
			t.Errorf("wantsJSON(%q) = %v, want %v", accept, got, want)
		}
	}
}
