package web

import (
	"bytes"
	crand "crypto/rand"
	"html/template"
	"math"
	"slices"
	"sync"
	"time"
)

// pageTTL is how long a rendered waiting page is reused. The page shows
// whole seconds, and every visitor of a waking host gets the same bytes
// within one (but the nonce): a crowd costs one render per second.
const pageTTL = time.Second

// pageCache keeps the last rendered waiting page of each host in each
// language. It holds one page per host and language, so it is bounded by
// the registered hosts times the catalogue's languages; expired pages are
// dropped now and then.
type pageCache struct {
	// placeholder stands in for the nonce when a page is rendered for the
	// cache; every answer splices a fresh nonce over it. It has the
	// length of crand.Text, and its alphabet (A–Z, 2–7) is escaped by no
	// html/template context, so it appears in the page as it is.
	placeholder string
	// spliceable is false for an operator template that does not show
	// the nonce verbatim (it slices or transforms it): its pages are not
	// cached, since a spliced nonce could not match.
	spliceable bool

	mu    sync.Mutex
	pages map[string]*cachedPage
	swept time.Time
}

type cachedPage struct {
	key     PageData // pageKey of what was rendered
	body    []byte   // rendered with the placeholder nonce
	nonces  []int    // where the placeholder is in body
	expires time.Time
}

func newPageCache(t *template.Template) *pageCache {
	c := &pageCache{placeholder: crand.Text(), pages: map[string]*cachedPage{}}
	c.spliceable = c.splices(t)
	return c
}

// splices checks, on the sample pages, that rendering with another nonce
// changes nothing but the nonce's occurrences.
func (c *pageCache) splices(t *template.Template) bool {
	other := crand.Text()
	for _, d := range samplePages() {
		d.Nonce = c.placeholder
		a, err := render(t, &d)
		if err != nil {
			return false
		}
		d.Nonce = other
		b, err := render(t, &d)
		if err != nil {
			return false
		}
		if !bytes.Equal(bytes.ReplaceAll(a, []byte(c.placeholder), []byte(other)), b) {
			return false
		}
	}
	return true
}

// pageKey is everything of d that the page's bytes depend on, but the
// nonce, with times cut to the second: two requests with the same key
// within pageTTL get the same page.
func pageKey(d *PageData) PageData {
	k := *d
	k.Nonce = ""
	k.Now = d.Now.Truncate(time.Second)
	k.Elapsed = ceilDuration(d.Elapsed)
	k.Estimate = ceilDuration(d.Estimate)
	k.Remaining = ceilDuration(d.Remaining)
	return k
}

// cacheKey is where d's page is kept: one per host and language, so
// visitors in different languages do not evict each other's page.
func cacheKey(d *PageData) string { return d.Host + "\x00" + d.Lang }

// ceilDuration rounds d up to whole seconds, keeping its sign.
func ceilDuration(d time.Duration) time.Duration {
	return time.Duration(math.Ceil(d.Seconds())) * time.Second
}

// cacheable reports whether d's page may be shared between answers. A
// click-to-wake token is made per render, so its page never is; b is the
// host's brand, whose own template may not splice.
func (c *pageCache) cacheable(d *PageData, b *Brand) bool {
	if b.template() != nil {
		return b.spliceable && d.WakeToken == ""
	}
	return c.spliceable && d.WakeToken == ""
}

// clear drops every page: the looks of hosts changed.
func (c *pageCache) clear() {
	c.mu.Lock()
	clear(c.pages)
	c.mu.Unlock()
}

// get returns the page for d with nonce spliced in, if one is cached.
func (c *pageCache) get(d *PageData, nonce string, now time.Time) ([]byte, bool) {
	c.mu.Lock()
	e := c.pages[cacheKey(d)]
	c.mu.Unlock()
	if e == nil || !now.Before(e.expires) || len(nonce) != len(c.placeholder) || e.key != pageKey(d) {
		return nil, false
	}
	if len(e.nonces) == 0 {
		return e.body, true // read-only from here on: shared
	}
	body := slices.Clone(e.body)
	for _, off := range e.nonces {
		copy(body[off:], nonce)
	}
	return body, true
}

// put stores body, rendered from d with the placeholder nonce, and returns
// it with nonce spliced in.
func (c *pageCache) put(d *PageData, body []byte, nonce string, now time.Time) []byte {
	e := &cachedPage{key: pageKey(d), body: body, expires: now.Add(pageTTL)}
	ph := []byte(c.placeholder)
	for off := 0; ; {
		i := bytes.Index(body[off:], ph)
		if i < 0 {
			break
		}
		e.nonces = append(e.nonces, off+i)
		off += i + len(ph)
	}
	c.mu.Lock()
	c.pages[cacheKey(d)] = e
	if now.Sub(c.swept) > 10*pageTTL {
		c.swept = now
		for h, p := range c.pages {
			if !now.Before(p.expires) {
				delete(c.pages, h)
			}
		}
	}
	c.mu.Unlock()
	if len(e.nonces) == 0 {
		return body
	}
	out := slices.Clone(body)
	for _, off := range e.nonces {
		copy(out[off:], nonce)
	}
	return out
}

// renderPage renders d's waiting page with nonce in it, from the cache
// when it can. Rendering falls back from a failing operator template to
// the built-in page.
func (p *Public) renderPage(d *PageData, nonce string) ([]byte, error) {
	tmpl := p.tmpl
	b := p.brandOf(d.Host)
	if t := b.template(); t != nil {
		tmpl = t
	}
	if !p.pages.cacheable(d, b) {
		d.Nonce = nonce
		return p.renderWithFallback(tmpl, d)
	}
	now := time.Now()
	if body, ok := p.pages.get(d, nonce, now); ok {
		d.Nonce = nonce
		return body, nil
	}
	d.Nonce = p.pages.placeholder
	body, err := p.renderWithFallback(tmpl, d)
	d.Nonce = nonce
	if err != nil {
		return nil, err
	}
	return p.pages.put(d, body, nonce, now), nil
}

func (p *Public) renderWithFallback(tmpl *template.Template, d *PageData) ([]byte, error) {
	body, err := render(tmpl, d)
	if err != nil && tmpl != p.builtin {
		p.log.Error("operator page template failed; showing the built-in page", "host", d.Host, "err", err)
		body, err = render(p.builtin, d)
	}
	return body, err
}
