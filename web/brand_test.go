package web

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePNG writes a small PNG logo and returns its path.
func writePNG(t *testing.T, dir string) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 8, 4))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "logo.png")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func serveGet(t *testing.T, p *Public, url string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, nil))
	return w
}

func TestBrandedPage(t *testing.T) {
	dir := t.TempDir()
	b, err := LoadBrand(BrandOptions{Name: "Example Shop", LogoFile: writePNG(t, dir), Accent: "#c0ffee", Background: "#FAFAFA", Status: 200})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeController("shop.example.com", "plain.example.com")
	p := newTestPublic(t, f, nil)
	unbrandedBefore := serveGet(t, p, "http://plain.example.com/").Body.String()
	p.SetBrands(map[string]*Brand{"shop.example.com": b})

	w := serveGet(t, p, "http://shop.example.com/")
	body := w.Body.String()
	if w.Code != 200 {
		t.Errorf("status %d, want the host's page.status 200", w.Code)
	}
	for _, want := range []string{
		"<title>Example Shop: waking up</title>", "<h1>Example Shop</h1>", "Example Shop is waking up.",
		`<img class="logo" src="/.waitingroom/logo?v=`, ":root{--accent:#c0ffee}", "--bg:#FAFAFA",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("branded page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<h1>shop.example.com</h1>") {
		t.Error("the heading shows the host name, not the display name")
	}
	if csp := w.Header().Get("Content-Security-Policy"); csp != contentSecurityPolicy(nonceOf(t, body)) {
		t.Errorf("branded page's CSP %q is not the strict one", csp)
	}
	if !strings.Contains(body, `<style nonce="`+nonceOf(t, body)+`">`) {
		t.Error("the colours' style has not the page's nonce")
	}

	logo := serveGet(t, p, "http://shop.example.com"+LogoPath)
	if logo.Code != 200 || logo.Header().Get("Content-Type") != "image/png" || !bytes.HasPrefix(logo.Body.Bytes(), []byte("\x89PNG")) {
		t.Errorf("logo: %d %q", logo.Code, logo.Header().Get("Content-Type"))
	}
	if csp := logo.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
		t.Errorf("logo CSP %q", csp)
	}
	if w := serveGet(t, p, "http://plain.example.com"+LogoPath); w.Code != 404 {
		t.Errorf("logo of a host without one: %d, want 404", w.Code)
	}

	// The other host keeps the built-in page, byte for byte but the nonce.
	w = serveGet(t, p, "http://plain.example.com/")
	if w.Code != 503 {
		t.Errorf("unbranded host: status %d, want 503", w.Code)
	}
	if got, want := strings.ReplaceAll(w.Body.String(), nonceOf(t, w.Body.String()), "N"), strings.ReplaceAll(unbrandedBefore, nonceOf(t, unbrandedBefore), "N"); got != want {
		t.Errorf("an unbranded host's page changed with another host's brand:\n%s\n---\n%s", got, want)
	}

	// A reload's new looks show at once, not after the cached page expires.
	b2, err := LoadBrand(BrandOptions{Name: "Renamed Shop"})
	if err != nil {
		t.Fatal(err)
	}
	p.SetBrands(map[string]*Brand{"shop.example.com": b2})
	if body := serveGet(t, p, "http://shop.example.com/").Body.String(); !strings.Contains(body, "<h1>Renamed Shop</h1>") || strings.Contains(body, "logo") {
		t.Errorf("after SetBrands the page is still the old one:\n%s", body)
	}
}

// nonceOf finds the page's nonce (wait.js has none; the style has).
func nonceOf(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `nonce="`)
	if !ok {
		return "none"
	}
	n, _, _ := strings.Cut(rest, `"`)
	return n
}

func TestBrandTemplateIsPerHost(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "shop.html")
	if err := os.WriteFile(tmpl, []byte(`<p nonce="{{.Nonce}}">{{.Name}} by its own template, {{.StateWords}}</p>`), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBrand(BrandOptions{Template: tmpl, Name: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	p := newTestPublic(t, newFakeController("shop.example.com", "plain.example.com"), nil)
	p.SetBrands(map[string]*Brand{"shop.example.com": b})
	for range 2 { // rendered, then from the cache
		if body := serveGet(t, p, "http://shop.example.com/").Body.String(); !strings.HasPrefix(body, "<p nonce=") || !strings.Contains(body, "Shop by its own template, waking up") {
			t.Errorf("host with a template: %s", body)
		}
		if body := serveGet(t, p, "http://plain.example.com/").Body.String(); !strings.Contains(body, "<h1>plain.example.com</h1>") {
			t.Errorf("host without one did not get the built-in page: %.200s", body)
		}
	}
}

func TestLoadBrandRefuses(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notimage.png")
	big := filepath.Join(dir, "big.png")
	badTmpl := filepath.Join(dir, "bad.html")
	for path, data := range map[string][]byte{
		text: []byte("<script>alert(1)</script>"), big: append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, MaxLogoBytes)...),
		badTmpl: []byte("{{.NoSuchField}}"),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		o    BrandOptions
		want string
	}{
		{"a colour that is CSS", BrandOptions{Accent: "#fff;}body{display:none"}, "#rgb or #rrggbb"},
		{"a colour name", BrandOptions{Background: "red"}, "#rgb or #rrggbb"},
		{"five digits", BrandOptions{Accent: "#12345"}, "#rgb or #rrggbb"},
		{"a logo of another origin", BrandOptions{LogoURL: "https://cdn.example.net/logo.png"}, "path on the host"},
		{"a protocol-relative logo", BrandOptions{LogoURL: "//cdn.example.net/logo.png"}, "path on the host"},
		{"both logos", BrandOptions{LogoURL: "/logo.png", LogoFile: writePNG(t, dir)}, "keep one"},
		{"a logo that is no image", BrandOptions{LogoFile: text}, "not a PNG"},
		{"a logo too big", BrandOptions{LogoFile: big}, "larger than 256 KiB"},
		{"a missing logo", BrandOptions{LogoFile: filepath.Join(dir, "none.png")}, "no such file"},
		{"a status", BrandOptions{Status: 302}, "status 302 is not allowed"},
		{"a broken template", BrandOptions{Template: badTmpl}, "NoSuchField"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBrand(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadBrand: %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if b, err := LoadBrand(BrandOptions{}); b != nil || err != nil {
		t.Errorf("no options: %v, %v; want the built-in page (nil)", b, err)
	}
}

func TestLogoFileAcceptsSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logo.svg")
	if err := os.WriteFile(path, []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>`), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBrand(BrandOptions{LogoFile: path})
	if err != nil {
		t.Fatal(err)
	}
	p := newTestPublic(t, newFakeController("shop.example.com"), nil)
	p.SetBrands(map[string]*Brand{"shop.example.com": b})
	if w := serveGet(t, p, "http://shop.example.com"+LogoPath); w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Errorf("SVG logo served as %q", w.Header().Get("Content-Type"))
	}
}
