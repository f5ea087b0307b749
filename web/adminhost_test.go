package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A page on another site whose name was rebound to 127.0.0.1 reaches the
// admin listener as its own origin. The admin answers only IP addresses,
// localhost and configured names, in every auth mode, so the rebound page
// gets neither the dashboard (with its CSRF token) nor any action.
func TestAdminRefusesNamesItIsNotReachedBy(t *testing.T) {
	modes := map[string]func(*AdminOptions){
		"open access": func(o *AdminOptions) { o.Users, o.Tokens = nil, nil },
		"users":       nil,
	}
	for mode, edit := range modes {
		s := newDashSetup(t, nil, func(o *AdminOptions) {
			o.Hosts = []string{"Admin.Example"}
			if edit != nil {
				edit(o)
			}
		})
		s.setRunning(t, "app.example.com")
		tests := []struct {
			name, host, origin, method, path string
			want                             int
			site                             string // Sec-Fetch-Site
		}{
			{"rebound name reads the dashboard", "evil.example:8081", "", "GET", "/", http.StatusMisdirectedRequest, ""},
			{"rebound name stops a host", "evil.example:8081", "http://evil.example:8081", "POST", "/api/hosts/app.example.com/stop", http.StatusMisdirectedRequest, ""},
			{"rebound name reads the config", "evil.example", "", "GET", "/config", http.StatusMisdirectedRequest, ""},
			{"rebound name reads traefik", "evil.example", "", "GET", "/api/traefik", http.StatusMisdirectedRequest, ""},
			{"rebound name reads metrics", "evil.example", "", "GET", "/metrics", http.StatusMisdirectedRequest, ""},
			{"subdomain of localhost", "a.localhost:8081", "", "GET", "/healthz", http.StatusMisdirectedRequest, ""},
			{"empty Host", "", "", "GET", "/healthz", http.StatusMisdirectedRequest, ""},
			{"allowed Host, foreign Origin", "127.0.0.1:8081", "http://evil.example:8081", "POST", "/api/hosts/app.example.com/stop", http.StatusForbidden, ""},
			{"allowed Host, null Origin, cross-site", "127.0.0.1:8081", "null", "POST", "/api/hosts/app.example.com/stop", http.StatusForbidden, "cross-site"},
			{"loopback address", "127.0.0.1:8081", "", "GET", "/healthz", 200, ""},
			{"IPv6 loopback", "[::1]:8081", "", "GET", "/healthz", 200, ""},
			{"another address (a pod IP)", "10.1.2.3:8081", "", "GET", "/healthz", 200, ""},
			{"localhost", "LOCALHOST:8081", "", "GET", "/healthz", 200, ""},
			{"configured name, any case", "admin.EXAMPLE.", "", "GET", "/healthz", 200, ""},
			{"configured name as Origin", "admin.example", "https://admin.example", "GET", "/healthz", 200, ""},
		}
		for _, tt := range tests {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			r.Host = tt.host
			r.Header.Set("Accept", "application/json")
			if tt.site != "" {
				r.Header.Set("Sec-Fetch-Site", tt.site)
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			w := httptest.NewRecorder()
			s.admin.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("%s: %s: %d %s, want %d", mode, tt.name, w.Code, w.Body, tt.want)
			}
			if tt.want == http.StatusMisdirectedRequest && !strings.Contains(w.Body.String(), "admin.hosts") {
				t.Errorf("%s: %s: the refusal does not say how to allow the name: %s", mode, tt.name, w.Body)
			}
		}
		if _, rec, _ := s.ctl.Status(t.Context(), "app.example.com"); rec.State != "running" {
			t.Errorf("%s: app.example.com is %s after the refused requests", mode, rec.State)
		}
	}
}

// FuzzAdminHostCheck checks the Host rule against its definition: allowed
// exactly when ParseHost accepts the header and its normal form is an IP
// address, localhost or a configured name; and an Origin is allowed only
// when its host is.
func FuzzAdminHostCheck(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8081", "[::1]:80", "localhost", "LocalHost.", "admin.example:443", "evil.example",
		"127.0.0.1.evil.example", "localhost.evil.example", "[::ffff:127.0.0.1]", "admin.example@evil", "", ":80", "0x7f.1", "①.example"} {
		f.Add(s)
	}
	h := newAdminHosts([]string{"admin.example"})
	f.Fuzz(func(t *testing.T, host string) {
		got := h.allowed(host)
		name, ok := ParseHost(host)
		want := ok && (name == "localhost" || name == "admin.example" || isIPHost(name))
		if got != want {
			t.Fatalf("allowed(%q) = %v, want %v (ParseHost: %q %v)", host, got, want, name, ok)
		}
		for _, scheme := range []string{"http://", "https://"} {
			if h.allowedOrigin(scheme+host) && !got {
				t.Fatalf("Origin %q allowed but its Host %q is not", scheme+host, host)
			}
		}
	})
}
