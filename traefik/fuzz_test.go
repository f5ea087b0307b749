package traefik

import (
	"strings"
	"testing"
)

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"app.example.com", "APP.example.com:443", "[::1]:80", "a, b", "x.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := normalizeHost(in)
		// Whatever comes in, what goes out can be compared with
		// registry names: no upper case, no list.
		if strings.ContainsAny(got, ",ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Errorf("normalizeHost(%q) = %q", in, got)
		}
	})
}

func FuzzSplitURL(f *testing.F) {
	for _, s := range []string{"http://app:80/healthz?x=1#f", "https://{internal_ip}/", "http://[::1]:80/", "ftp://x", "http://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := splitURL(in)
		if err != nil {
			return
		}
		if !strings.HasPrefix(e.path, "/") || strings.Contains(e.path, "#") || e.hostname == "" {
			t.Errorf("splitURL(%q) = %+v", in, e)
		}
	})
}
