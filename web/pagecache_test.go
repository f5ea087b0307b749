package web

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

func newCachePublic(t *testing.T, f *fakeController, tmpl *template.Template) *Public {
	t.Helper()
	p, err := NewPublic(PublicOptions{Controller: f, Logger: discardLogger(), Template: tmpl, ShowFailureReason: true})
	if err != nil {
		t.Fatalf("NewPublic: %v", err)
	}
	return p
}

func getPage(t *testing.T, p *Public) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil))
	return w
}

// cspNonce is the nonce the Content-Security-Policy header allows.
func cspNonce(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	csp := w.Header().Get("Content-Security-Policy")
	_, rest, ok := strings.Cut(csp, "'nonce-")
	if !ok {
		t.Fatalf("no nonce in Content-Security-Policy %q", csp)
	}
	nonce, _, _ := strings.Cut(rest, "'")
	return nonce
}

func TestCachedPageGetsFreshNonceMatchingHeader(t *testing.T) {
	cat, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.New("op").Funcs(templateFuncs(cat)).Parse(
		`<p>{{.StateWords}} {{.ElapsedText}}</p><style nonce="{{.Nonce}}">p{}</style>` +
			`<script nonce="{{.Nonce}}">var n = {{.Nonce}};</script>`)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: f.now.Add(-5 * time.Second)})
	p := newCachePublic(t, f, tmpl)
	if !p.pages.spliceable {
		t.Fatal("a template showing the nonce verbatim is not cached")
	}

	seen := map[string]bool{}
	var first string
	for i := range 3 {
		w := getPage(t, p)
		body := w.Body.String()
		nonce := cspNonce(t, w)
		if seen[nonce] {
			t.Fatalf("answer %d repeats nonce %q", i, nonce)
		}
		seen[nonce] = true
		if n := strings.Count(body, nonce); n != 3 {
			t.Errorf("answer %d: header nonce %q appears %d times in the page, want 3:\n%s", i, nonce, n, body)
		}
		if strings.Contains(body, p.pages.placeholder) {
			t.Errorf("answer %d carries the placeholder:\n%s", i, body)
		}
		if i == 0 {
			first = strings.ReplaceAll(body, nonce, "N")
			// The first answer filled the cache.
			d := p.pageData(t.Context(), "app.example.com", "en", f.record("app.example.com"), nil)
			if _, ok := p.pages.get(&d, nonce, time.Now()); !ok {
				t.Fatal("the page was not cached")
			}
		} else if got := strings.ReplaceAll(body, nonce, "N"); got != first {
			t.Errorf("answer %d differs from the first beyond the nonce:\n%s\n%s", i, got, first)
		}
	}
}

func TestCachedPageNotServedAfterChange(t *testing.T) {
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: f.now.Add(-5 * time.Second)})
	p := newCachePublic(t, f, nil)
	for _, tc := range []struct {
		name   string
		change func()
		want   string
	}{
		{"starting", func() {}, "waking up"},
		{"failed", func() {
			f.set(controller.Record{Host: "app.example.com", State: controller.StateFailed, Reason: "start: boom", Changed: f.now})
		}, "start: boom"},
		{"estimate known", func() {
			f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: f.now.Add(-5 * time.Second)})
			f.mu.Lock()
			f.estimate, f.hasEstimate = 40*time.Second, true
			f.mu.Unlock()
		}, `data-estimate="40"`},
		{"a second later", func() {
			f.mu.Lock()
			f.now = f.now.Add(time.Second)
			f.mu.Unlock()
		}, "6 s"},
	} {
		tc.change()
		// Twice: the second answer comes from the cache.
		for range 2 {
			if body := getPage(t, p).Body.String(); !strings.Contains(body, tc.want) {
				t.Fatalf("%s: page lacks %q:\n%s", tc.name, tc.want, body)
			}
		}
	}
}

func TestPageCacheRules(t *testing.T) {
	sliced, err := template.New("op").Parse(`<style nonce="{{slice .Nonce 0 8}}"></style>`)
	if err != nil {
		t.Fatal(err)
	}
	if newPageCache(sliced).spliceable {
		t.Error("a template that cuts the nonce is cached")
	}
	builtin, err := defaultTemplate()
	if err != nil {
		t.Fatal(err)
	}
	c := newPageCache(builtin)
	if !c.cacheable(&PageData{Host: "a.example.com"}, nil) {
		t.Error("the built-in page is not cached")
	}
	if c.cacheable(&PageData{Host: "a.example.com", WakeToken: "t"}, nil) {
		t.Error("a page with a click-to-wake token is cached")
	}
	// Expired pages are dropped when another is stored.
	now := time.Now()
	c.put(&PageData{Host: "old.example.com"}, []byte("old"), "", now)
	later := now.Add(time.Minute)
	c.put(&PageData{Host: "new.example.com"}, []byte("new"), "", later)
	if _, ok := c.pages["old.example.com"]; ok || len(c.pages) != 1 {
		t.Errorf("cache holds %d pages after expiry", len(c.pages))
	}
	if _, ok := c.get(&PageData{Host: "new.example.com"}, c.placeholder, later.Add(pageTTL)); ok {
		t.Error("a page older than pageTTL was served")
	}
}
