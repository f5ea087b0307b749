package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"
)

// The waiting page's words, one JSON file per language in locales/: a
// flat object of message key → text, where {name} marks what is filled
// in (translators may move it). English is the fallback and the reference:
// every language has exactly its keys (TestCatalogsAreComplete).
//
//go:embed locales/*.json
var localeFS embed.FS

// fallbackLang is shown when nothing in Accept-Language matches.
const fallbackLang = "en"

// catalog holds every language's messages; it is read-only once loaded.
type catalog struct {
	langs   []string // BCP 47 tags, fallbackLang first
	matcher language.Matcher
	msgs    map[string]map[string]string // lang → key → text
}

// loadCatalog reads the embedded locales once: they cannot change, and
// a broken file is a build defect caught by the tests.
var loadCatalog = sync.OnceValues(func() (*catalog, error) { return parseCatalog(localeFS) })

func parseCatalog(fsys embed.FS) (*catalog, error) {
	entries, err := fsys.ReadDir("locales")
	if err != nil {
		return nil, fmt.Errorf("locales: %w", err)
	}
	c := &catalog{langs: []string{fallbackLang}, msgs: map[string]map[string]string{}}
	for _, e := range entries {
		lang := strings.TrimSuffix(e.Name(), ".json")
		b, err := fsys.ReadFile(path.Join("locales", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("locales: %w", err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("locales/%s: %w", e.Name(), err)
		}
		if _, err := language.Parse(lang); err != nil {
			return nil, fmt.Errorf("locales/%s: %q is not a language tag: %w", e.Name(), lang, err)
		}
		c.msgs[lang] = m
		if lang != fallbackLang {
			c.langs = append(c.langs, lang)
		}
	}
	if c.msgs[fallbackLang] == nil {
		return nil, fmt.Errorf("locales: no %s.json", fallbackLang)
	}
	tags := make([]language.Tag, len(c.langs))
	for i, l := range c.langs {
		tags[i] = language.MustParse(l)
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// pick chooses the language for r from its Accept-Language header (with
// q-values), falling back to English.
func (c *catalog) pick(r *http.Request) string {
	h := r.Header.Get("Accept-Language")
	if h == "" || len(h) > 1024 {
		return fallbackLang
	}
	tags, _, err := language.ParseAcceptLanguage(h)
	if err != nil || len(tags) == 0 {
		return fallbackLang
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return fallbackLang
	}
	return c.langs[i]
}

// text is key's message in lang with {name} replaced by the pairs in args
// (name, value, name, value...). A missing key falls back to English,
// then to the key itself, so a page never breaks on a catalogue.
func (c *catalog) text(lang, key string, args ...string) string {
	s, ok := c.msgs[lang][key]
	if !ok {
		if s, ok = c.msgs[fallbackLang][key]; !ok {
			s = key
		}
	}
	if len(args) < 2 || !strings.Contains(s, "{") {
		return s
	}
	// One pass, no strings.Replacer: building one per message cost more
	// than the rest of the waiting page (BenchmarkWaitingPage).
	var b strings.Builder
	b.Grow(len(s) + 32)
	for {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			break
		}
		name, value, found := s[open+1:open+end], "", false
		for i := 0; i+1 < len(args); i += 2 {
			if args[i] == name {
				value, found = args[i+1], true
				break
			}
		}
		b.WriteString(s[:open])
		if found {
			b.WriteString(value)
		} else {
			b.WriteString(s[open : open+end+1])
		}
		s = s[open+end+1:]
	}
	b.WriteString(s)
	return b.String()
}

// about words a remaining time in lang: "about 40 s", "about 3 min", and
// "any moment now" when the estimate is used up. Rounding is coarse on
// purpose: an estimate is a median, not a promise.
func (c *catalog) about(lang string, d time.Duration) string {
	s := ceilSeconds(d)
	switch {
	case s <= 0:
		return c.text(lang, "time.any_moment")
	case s <= 10:
		return c.text(lang, "time.about_seconds", "n", strconv.Itoa(s))
	case s < 60:
		return c.text(lang, "time.about_seconds", "n", strconv.Itoa((s+4)/5*5))
	default:
		return c.text(lang, "time.about_minutes", "n", strconv.Itoa((s+30)/60))
	}
}

// elapsed words an elapsed time in lang: "12 s", "1 min 5 s", "2 h 3 min".
func (c *catalog) elapsed(lang string, d time.Duration) string {
	s := max(int(d/time.Second), 0)
	switch {
	case s < 60:
		return c.text(lang, "time.seconds", "s", strconv.Itoa(s))
	case s < 3600:
		return c.text(lang, "time.minutes_seconds", "m", strconv.Itoa(s/60), "s", strconv.Itoa(s%60))
	default:
		return c.text(lang, "time.hours_minutes", "h", strconv.Itoa(s/3600), "m", strconv.Itoa(s%3600/60))
	}
}
