package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// Every language has every message, no extra ones, and the same {names}
// to fill in: a translator's slip shows here, not on a visitor's page.
func TestCatalogsAreComplete(t *testing.T) {
	c, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"en", "ja", "zh-Hans"} {
		if !slices.Contains(c.langs, want) {
			t.Errorf("no %s catalogue (have %v)", want, c.langs)
		}
	}
	names := regexp.MustCompile(`\{\w+\}`)
	placeholders := func(s string) []string {
		p := names.FindAllString(s, -1)
		slices.Sort(p)
		return slices.Compact(p)
	}
	en := c.msgs[fallbackLang]
	for _, lang := range c.langs {
		m := c.msgs[lang]
		for key, text := range en {
			got, ok := m[key]
			switch {
			case !ok:
				t.Errorf("%s.json lacks %q", lang, key)
			case strings.TrimSpace(got) == "":
				t.Errorf("%s.json: %q is empty", lang, key)
			case !slices.Equal(placeholders(got), placeholders(text)):
				t.Errorf("%s.json: %q fills in %v, English %v", lang, key, placeholders(got), placeholders(text))
			}
		}
		for key := range m {
			if _, ok := en[key]; !ok {
				t.Errorf("%s.json has %q, which en.json does not", lang, key)
			}
		}
	}
}

// Every key the code and the page ask for is in the catalogue: a missing
// one would show the key itself.
func TestCatalogHasEveryKeyUsed(t *testing.T) {
	c, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	for _, f := range []string{"public.go", "i18n.go", "templates/wait.html"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	used := regexp.MustCompile(`"((?:state|problem|msg|page|time)\.[a-z_]+)"`).FindAllStringSubmatch(src.String(), -1)
	if len(used) < 20 {
		t.Fatalf("found only %d message keys in the sources", len(used))
	}
	for _, u := range used {
		if _, ok := c.msgs[fallbackLang][u[1]]; !ok {
			t.Errorf("%q is used but not in en.json", u[1])
		}
	}
	for _, s := range []controller.State{controller.StateStopped, controller.StateStarting, controller.StateRunning,
		controller.StateStopping, controller.StateFailed, controller.StateUnknown} {
		if _, ok := c.msgs[fallbackLang]["state."+string(s)]; !ok {
			t.Errorf("no words for state %s", s)
		}
	}
}

func TestLanguageFromAcceptLanguage(t *testing.T) {
	c, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ header, want string }{
		{"", "en"},
		{"ja", "ja"},
		{"ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", "ja"},
		{"en-US,en;q=0.9,ja;q=0.8", "en"},
		{"fr-FR,fr;q=0.9", "en"},
		{"fr-FR,fr;q=0.9,ja;q=0.5", "ja"},
		{"en;q=0.2,ja;q=0.9", "ja"},
		{"zh-CN,zh;q=0.9", "zh-Hans"},
		{"zh-Hans", "zh-Hans"},
		{"zh", "zh-Hans"},
		{"*", "en"},
		{"ja;q=0", "en"},
		{";;;,,q=x", "en"},
		{strings.Repeat("ja,", 2000), "en"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Language", tc.header)
		if got := c.pick(r); got != tc.want {
			t.Errorf("Accept-Language %.40q: %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestPageSpeaksTheVisitorsLanguage(t *testing.T) {
	started := time.Date(2026, 3, 4, 9, 59, 50, 0, time.UTC)
	tests := []struct {
		lang, accept string
		want         []string
	}{
		{"en", "", []string{`<html lang="en">`, "app.example.com is waking up.", "Waiting for", "about 30 s", "10 s",
			`data-t-about-seconds="about {n} s"`}},
		{"ja", "ja,en;q=0.5", []string{`<html lang="ja">`, "app.example.com を起動しています。", "待ち時間", "約 30 秒", "10 秒",
			"状態：", `data-t-about-seconds="約 {n} 秒"`, `data-t-starting="起動中"`}},
		{"zh-Hans", "zh-CN", []string{`<html lang="zh-Hans">`, "app.example.com 正在唤醒。", "已等待", "约 30 秒"}},
	}
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: started})
	f.estimate, f.hasEstimate = 40*time.Second, true
	p := newTestPublic(t, f, nil)
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			for _, accept := range []string{"text/html", "application/json"} {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Host = "app.example.com"
				req.Header.Set("User-Agent", browserUA)
				req.Header.Set("Accept", accept)
				if tc.accept != "" {
					req.Header.Set("Accept-Language", tc.accept)
				}
				w := httptest.NewRecorder()
				p.ServeHTTP(w, req)
				body, _ := io.ReadAll(w.Result().Body)
				if v := w.Header().Get("Vary"); !strings.Contains(v, "Accept-Language") {
					t.Errorf("%s: Vary %q lacks Accept-Language", accept, v)
				}
				if accept == "application/json" {
					var st stateJSON
					if err := json.Unmarshal(body, &st); err != nil {
						t.Fatal(err)
					}
					if st.Message != tc.want[1] || st.State != controller.StateStarting {
						t.Errorf("JSON message %q, want %q", st.Message, tc.want[1])
					}
					continue
				}
				for _, s := range tc.want {
					if !strings.Contains(string(body), s) {
						t.Errorf("page lacks %q:\n%s", s, body)
					}
				}
			}
		})
	}
}

// The page cache keeps one page per host and language: a Japanese visitor
// never gets the English page cached a moment before, nor evicts it.
func TestPageCacheIsPerLanguage(t *testing.T) {
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: f.now.Add(-5 * time.Second)})
	p := newTestPublic(t, f, nil)
	page := func(lang string) string {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = "app.example.com"
		req.Header.Set("User-Agent", browserUA)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Accept-Language", lang)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		return w.Body.String()
	}
	for range 2 {
		if en := page("en"); !strings.Contains(en, `lang="en"`) {
			t.Fatalf("English visitor got:\n%s", en)
		}
		if ja := page("ja"); !strings.Contains(ja, `lang="ja"`) || !strings.Contains(ja, "起動しています") {
			t.Fatalf("Japanese visitor got:\n%s", ja)
		}
	}
	now := time.Now()
	for _, lang := range []string{"en", "ja"} {
		d := p.pageData(t.Context(), "app.example.com", lang, f.record("app.example.com"), nil)
		if _, ok := p.pages.get(&d, p.pages.placeholder, now); !ok {
			t.Errorf("no cached %s page beside the other language's", lang)
		}
	}
}

// A page's sub-request for a sleeping host gets one line of text, in the
// visitor's language too (not English with a Japanese state word).
func TestSubrequestLineIsInTheVisitorsLanguage(t *testing.T) {
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: controller.StateStarting, Changed: f.now.Add(-5 * time.Second)})
	p := newTestPublic(t, f, nil)
	req := httptest.NewRequest(http.MethodGet, "/logo.png", nil)
	req.Host = "app.example.com"
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("Sec-Fetch-Dest", "image")
	req.Header.Set("Accept-Language", "ja")
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	if got := w.Body.String(); got != "app.example.com を起動しています。\n" {
		t.Errorf("sub-request answer %q", got)
	}
}

func TestCatalogTextFillsIn(t *testing.T) {
	c := &catalog{msgs: map[string]map[string]string{
		"en": {"k": "{host} is {state}; {host} again, {unknown} kept, {open", "plain": "no names"},
		"ja": {"k": "{state}の{host}"},
	}}
	tests := []struct{ lang, key, want string }{
		{"en", "k", "a.example is up; a.example again, {unknown} kept, {open"},
		{"ja", "k", "upのa.example"},
		{"fr", "k", "a.example is up; a.example again, {unknown} kept, {open"}, // falls back to English
		{"ja", "plain", "no names"},
		{"en", "missing", "missing"},
	}
	for _, tc := range tests {
		if got := c.text(tc.lang, tc.key, "host", "a.example", "state", "up"); got != tc.want {
			t.Errorf("text(%s, %s) = %q, want %q", tc.lang, tc.key, got, tc.want)
		}
	}
}
