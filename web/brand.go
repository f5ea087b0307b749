package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LogoPath is where the public listener serves a host's logo file
// (BrandOptions.LogoFile): same origin, so the page's strict
// Content-Security-Policy (img-src 'self') allows it.
const LogoPath = internalPrefix + "logo"

// MaxLogoBytes caps a logo file: it is held in memory and sent with every
// first visit of a waiting page.
const MaxLogoBytes = 256 << 10

// BrandOptions are one host's looks (hosts[].page in the configuration).
// The zero value is the built-in page, unchanged.
type BrandOptions struct {
	// Name is shown instead of the host name in the title, the heading and
	// the messages.
	Name string
	// LogoURL is a path on the host's own origin ("/assets/logo.svg"),
	// served by something that stays up; LogoFile a file waitingroom reads
	// at load and serves itself under LogoPath (PNG, JPEG, GIF, WebP or
	// SVG, at most MaxLogoBytes). At most one of them.
	LogoURL  string
	LogoFile string
	// Accent and Background are colours, #rgb or #rrggbb (CheckColour):
	// the accent in light and dark, the background in light only (the dark
	// scheme keeps its own, so its light text stays readable).
	Accent     string
	Background string
	// Template replaces the page for this host (LoadTemplate; TEMPLATE.md).
	Template string
	// Status is the page's status for this host: 503, 200 or 202; 0: the
	// global PublicOptions.PageStatus.
	Status int
}

// Brand is a host's loaded looks: files read once, at load or reload.
type Brand struct {
	name, logoURL, accent, background string
	status                            int
	tmpl                              *template.Template
	logo                              []byte
	logoType                          string
	// spliceable: tmpl's pages may be cached (pageCache.splices).
	spliceable bool
}

// CheckColour accepts #rgb and #rrggbb, nothing else: the colour is
// written into the page's style, where anything else could be CSS.
func CheckColour(s string) error {
	if (len(s) != 4 && len(s) != 7) || s[0] != '#' {
		return fmt.Errorf("colour %q: use #rgb or #rrggbb, e.g. #2f6fde", s)
	}
	for _, c := range s[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return fmt.Errorf("colour %q: use #rgb or #rrggbb, e.g. #2f6fde", s)
		}
	}
	return nil
}

// CheckLogoURL accepts a path of the host's own origin: the page's
// Content-Security-Policy allows images from nowhere else.
func CheckLogoURL(s string) error {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\"'<> \t\r\n") {
		return fmt.Errorf("logo_url %q: use a path on the host itself, e.g. /assets/logo.svg (other origins are refused by the page's Content-Security-Policy)", s)
	}
	return nil
}

// CheckPageStatus accepts the statuses a waiting page may have.
func CheckPageStatus(s int) error {
	switch s {
	case 0, http.StatusServiceUnavailable, http.StatusOK, http.StatusAccepted:
		return nil
	}
	return fmt.Errorf("status %d is not allowed: use 503 (default), 200 or 202", s)
}

// LoadBrand checks o and reads its files. A zero o gives nil: the host
// has the built-in page.
func LoadBrand(o BrandOptions) (*Brand, error) {
	if o == (BrandOptions{}) {
		return nil, nil
	}
	b := &Brand{name: o.Name, logoURL: o.LogoURL, accent: o.Accent, background: o.Background, status: o.Status}
	var errs []error
	for _, c := range []string{o.Accent, o.Background} {
		if c != "" {
			errs = append(errs, CheckColour(c))
		}
	}
	errs = append(errs, CheckPageStatus(o.Status))
	if o.LogoURL != "" {
		errs = append(errs, CheckLogoURL(o.LogoURL))
	}
	if o.LogoURL != "" && o.LogoFile != "" {
		errs = append(errs, errors.New("logo_url and logo_file: keep one"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.LogoFile != "" {
		logo, typ, err := readLogo(o.LogoFile)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(logo)
		// The digest in the URL lets browsers keep the logo; a new file
		// gets a new URL.
		b.logo, b.logoType, b.logoURL = logo, typ, LogoPath+"?v="+hex.EncodeToString(sum[:6])
	}
	if o.Template != "" {
		t, err := LoadTemplate(o.Template)
		if err != nil {
			return nil, err
		}
		b.tmpl = t
	}
	return b, nil
}

// readLogo reads an image file, refusing what is too big or no image.
func readLogo(path string) ([]byte, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("logo_file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxLogoBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("logo_file %s: %w", path, err)
	}
	if len(data) > MaxLogoBytes {
		return nil, "", fmt.Errorf("logo_file %s: larger than %d KiB", path, MaxLogoBytes>>10)
	}
	switch typ := http.DetectContentType(data); typ {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return data, typ, nil
	}
	if strings.EqualFold(filepath.Ext(path), ".svg") && bytes.Contains(data, []byte("<svg")) {
		return data, "image/svg+xml", nil
	}
	return nil, "", fmt.Errorf("logo_file %s: not a PNG, JPEG, GIF, WebP or SVG image", path)
}

// brandOf is host's brand; nil for the built-in page.
func (p *Public) brandOf(host string) *Brand {
	if m := p.brands.Load(); m != nil {
		return (*m)[host]
	}
	return nil
}

// SetBrands replaces every host's looks (a reload); hosts not in m get
// the built-in page. Cached pages are dropped, so none of the old looks
// is served.
func (p *Public) SetBrands(m map[string]*Brand) {
	set := make(map[string]*Brand, len(m))
	for host, b := range m {
		if b == nil {
			continue
		}
		c := *b
		if c.tmpl != nil {
			c.spliceable = p.pages.splices(c.tmpl)
		}
		set[host] = &c
	}
	p.brands.Store(&set)
	p.pages.clear()
}

// apply fills d with the brand's looks and status; a nil brand leaves
// the built-in page.
func (b *Brand) apply(d *PageData) {
	if b == nil {
		return
	}
	if b.name != "" {
		d.Name = b.name
	}
	if b.status != 0 {
		d.Status = b.status
	}
	d.Logo, d.Accent, d.Background = b.logoURL, b.accent, b.background
}

// template is the brand's own page template, or nil.
func (b *Brand) template() *template.Template {
	if b == nil {
		return nil
	}
	return b.tmpl
}

// serveLogo answers LogoPath with the host's logo file. It is served with
// a Content-Security-Policy of its own, so an SVG opened by itself runs
// nothing.
func (p *Public) serveLogo(w http.ResponseWriter, r *http.Request, host string) {
	b := p.brandOf(host)
	if b == nil || b.logo == nil {
		p.refuse(w, r, http.StatusNotFound, "not found")
		return
	}
	h := w.Header()
	h.Set("Content-Type", b.logoType)
	h.Set("Content-Length", strconv.Itoa(len(b.logo)))
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.logo)
	}
}
