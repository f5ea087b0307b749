package guard

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/waitingroom/waitingroom/internal/clientclass"
)

const (
	chromeUA  = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	firefoxUA = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	cubotUA   = "Mozilla/5.0 (Linux; Android 10; CUBOT NOTE 20) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
	htmlAcc   = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

// crawlerUAs are real User-Agent strings of crawlers and link previewers.
var crawlerUAs = []string{
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
	"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
	"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
	"Twitterbot/1.0",
	"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
	"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
	"WhatsApp/2.23.20.0",
	"TelegramBot (like TwitterBot)",
	"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
	"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
	"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
	"Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
	"DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.1; +https://openai.com/gptbot",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
	"CCBot/2.0 (https://commoncrawl.org/faq/)",
	"Mozilla/5.0 (compatible;PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
	"Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
	"Mozilla/5.0 (compatible; SomeNewCrawler/0.1)",
}

var monitorUAs = []string{
	"Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
	"Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 StatusCake",
	"Better Uptime Bot Mozilla/5.0 (X11; Linux x86_64)",
	"Better Stack Better Uptime Bot Mozilla/5.0",
	"Site24x7",
	"NewRelicPinger/1.0 (12345)",
	"Datadog/Synthetics",
}

func TestClassify(t *testing.T) {
	c := clientclass.New(clientclass.Options{
		BotUserAgents:     []string{"AcmeFetcher"},
		MonitorUserAgents: []string{"HomeGrownPing"},
		MonitorPaths:      []string{"/healthz"},
	})
	type tc struct {
		name    string
		path    string
		headers []string
		want    Class
	}
	tests := []tc{
		{"chrome navigation", "/", []string{"User-Agent", chromeUA, "Accept", htmlAcc}, ClassBrowser},
		{"firefox navigation", "/", []string{"User-Agent", firefoxUA, "Accept", htmlAcc}, ClassBrowser},
		{"phone named CUBOT is a person", "/", []string{"User-Agent", cubotUA, "Accept", htmlAcc}, ClassBrowser},
		{"curl is an API client", "/", []string{"User-Agent", "curl/8.5.0", "Accept", "*/*"}, ClassAPI},
		{"python-requests is an API client", "/", []string{"User-Agent", "python-requests/2.31", "Accept", "*/*"}, ClassAPI},
		{"fetch() asking JSON", "/api", []string{"User-Agent", chromeUA, "Accept", "application/json"}, ClassAPI},
		{"no Accept at all", "/", []string{"User-Agent", chromeUA}, ClassAPI},
		{"no User-Agent", "/", []string{"Accept", htmlAcc}, ClassBot},
		{"blank User-Agent", "/", []string{"User-Agent", "  ", "Accept", htmlAcc}, ClassBot},
		{"configured bot", "/", []string{"User-Agent", "acmefetcher/3", "Accept", htmlAcc}, ClassBot},
		{"configured monitor", "/", []string{"User-Agent", "HomeGrownPing 1.0", "Accept", htmlAcc}, ClassMonitor},
		{"monitor path", "/healthz", []string{"User-Agent", chromeUA, "Accept", htmlAcc}, ClassMonitor},
		{"Sec-Purpose prefetch", "/", []string{"User-Agent", chromeUA, "Accept", htmlAcc, "Sec-Purpose", "prefetch"}, ClassPrefetch},
		{"Sec-Purpose prerender", "/", []string{"User-Agent", chromeUA, "Accept", htmlAcc, "Sec-Purpose", "prefetch;prerender"}, ClassPrefetch},
		{"Purpose prefetch", "/", []string{"User-Agent", chromeUA, "Accept", htmlAcc, "Purpose", "Prefetch"}, ClassPrefetch},
		{"X-Moz prefetch", "/", []string{"User-Agent", firefoxUA, "Accept", htmlAcc, "X-Moz", "prefetch"}, ClassPrefetch},
		{"X-Purpose preview", "/", []string{"User-Agent", chromeUA, "Accept", htmlAcc, "X-Purpose", "preview"}, ClassPrefetch},
	}
	for _, ua := range crawlerUAs {
		tests = append(tests, tc{"crawler " + ua, "/", []string{"User-Agent", ua, "Accept", htmlAcc}, ClassBot})
	}
	for _, ua := range monitorUAs {
		tests = append(tests, tc{"monitor " + ua, "/", []string{"User-Agent", ua, "Accept", htmlAcc}, ClassMonitor})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://app.example.com"+tt.path, nil)
			for i := 0; i+1 < len(tt.headers); i += 2 {
				r.Header.Add(tt.headers[i], tt.headers[i+1])
			}
			if got := c.Classify(r); got != tt.want {
				t.Errorf("Classify = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWakeDecision(t *testing.T) {
	off := clientclass.WakeRules{}
	on := clientclass.WakeRules{OnHead: true, OnPrefetch: true}
	tests := []struct {
		class  Class
		method string
		bots   clientclass.WakeRules
		want   bool
	}{
		{ClassBrowser, http.MethodGet, off, true},
		{ClassAPI, http.MethodPost, off, true},
		{ClassBrowser, http.MethodHead, off, false},
		{ClassBrowser, http.MethodHead, on, true},
		{ClassAPI, http.MethodOptions, off, false},
		{ClassPrefetch, http.MethodGet, off, false},
		{ClassPrefetch, http.MethodGet, on, true},
		{ClassBot, http.MethodGet, on, false},
		{ClassBot, http.MethodPost, on, false},
		{ClassMonitor, http.MethodGet, on, false},
		{ClassMonitor, http.MethodHead, on, false},
	}
	for _, tt := range tests {
		wake, why := clientclass.WakeDecision(tt.class, tt.method, tt.bots)
		if wake != tt.want {
			t.Errorf("WakeDecision(%s, %s, %+v) = %v (%q), want %v", tt.class, tt.method, tt.bots, wake, why, tt.want)
		}
		if !wake && why == "" {
			t.Errorf("WakeDecision(%s, %s) refused without saying why", tt.class, tt.method)
		}
	}
	c := clientclass.New(clientclass.Options{Wake: on})
	if wake, _ := c.WakeDecision(ClassBrowser, http.MethodHead); !wake {
		t.Error("Classifier.WakeDecision ignores its bots settings")
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	c := clientclass.New(clientclass.Options{BotUserAgents: []string{"AcmeFetcher"}, MonitorPaths: []string{"/healthz"}})
	for _, ua := range []string{chromeUA, crawlerUAs[0], monitorUAs[0], "curl/8.5.0"} {
		r := request("203.0.113.9:1", "User-Agent", ua, "Accept", htmlAcc)
		if n := testing.AllocsPerRun(100, func() { _ = c.Classify(r) }); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", ua, n)
		}
	}
}
