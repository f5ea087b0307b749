// Package clientclass is the one rule for what kind of client sent a
// request (browser, bot, monitor, prefetch, API client) and whether that
// kind may wake a backend. guard configures it from the file; web and hold
// use it where no configuration reaches them.
package clientclass

import (
	"bytes"
	"net/http"
	"strings"
)

// Class is what kind of client sent a request. Its string value goes into
// controller.Client.Class.
type Class string

// The classes Classify assigns.
const (
	// ClassBrowser: a person's browser navigating (Accept lists text/html).
	ClassBrowser Class = "browser"
	// ClassBot: a crawler, a link previewer, or a client without a
	// User-Agent. Gets the page, never wakes.
	ClassBot Class = "bot"
	// ClassMonitor: an uptime checker (by User-Agent or monitors.paths).
	// Gets the fixed monitor answer, never wakes, is no activity.
	ClassMonitor Class = "monitor"
	// ClassPrefetch: a speculative load the user may never look at.
	ClassPrefetch Class = "prefetch"
	// ClassAPI: a program (Accept without text/html: curl, fetch(), SDKs).
	// Wakes; wait: auto holds it rather than showing a page.
	ClassAPI Class = "api"
)

// builtinBots are lower-case User-Agent substrings of crawlers and link
// previewers that fetch whatever URL they meet. Most also say "Mozilla/",
// so these are checked first. Generic markers ("bot/", "crawler", "+http")
// catch the long tail; "+http" is the contact URL polite robots put in
// their User-Agent and no browser does. A bare "bot" is not a marker:
// phones named CUBOT browse like everyone else.
var builtinBots = [...]string{
	"googlebot", "google-inspectiontool", "googleother", "adsbot-google", "mediapartners-google", "feedfetcher-google",
	"bingbot", "bingpreview", "slackbot", "slack-imgproxy", "facebookexternalhit", "facebookcatalog", "meta-externalagent",
	"twitterbot", "linkedinbot", "discordbot", "whatsapp", "telegrambot", "skypeuripreview", "redditbot",
	"pinterestbot", "embedly", "iframely", "mastodon", "ahrefsbot", "semrushbot", "yandexbot", "yandex.com/bots",
	"baiduspider", "duckduckbot", "applebot", "gptbot", "chatgpt-user", "oai-searchbot", "claudebot", "claude-web",
	"anthropic-ai", "ccbot", "petalbot", "bytespider", "amazonbot", "perplexitybot", "mj12bot", "dotbot",
	"dataforseobot", "seznambot", "sogou", "exabot", "ia_archiver", "archive.org_bot", "qwantify",
	"bot/", "crawler", "spider", "+http",
}

// builtinMonitors are lower-case User-Agent substrings of uptime checkers.
// They are checked before bots: several call themselves "bot".
var builtinMonitors = [...]string{
	"uptimerobot", "pingdom", "statuscake", "betteruptime", "better uptime", "better stack", "betterstack",
	"site24x7", "newrelicpinger", "datadog/synthetics", "datadogsynthetics", "uptime-kuma", "uptime kuma",
	"freshping", "hetrixtools", "updown.io", "nodeping", "checkly", "gatus",
}

// Classifier sorts requests into Classes. The lists are lower-cased once
// here, so Classify does not allocate for ordinary requests. Safe for
// concurrent use; immutable after NewClassifier.
type Classifier struct {
	bots         markers
	monitors     markers
	monitorPaths []string
	wake         WakeRules
}

// markers are lower-case substrings indexed by their first byte, so one
// pass over a User-Agent tries only the markers that can start at each
// position (a browser's User-Agent, which matches none, is the common case).
type markers struct {
	byFirst [256][][]byte
}

func (m *markers) add(list []string) {
	for _, s := range list {
		s = strings.ToLower(strings.TrimSpace(s))
		if s != "" {
			m.byFirst[s[0]] = append(m.byFirst[s[0]], []byte(s))
		}
	}
}

// in reports whether any marker occurs in s (lower case).
func (m *markers) in(s []byte) bool {
	for i := range s {
		for _, mk := range m.byFirst[s[i]] {
			if bytes.HasPrefix(s[i:], mk) {
				return true
			}
		}
	}
	return false
}

// Options extend the built-in lists; the zero value classifies with them
// alone.
type Options struct {
	// BotUserAgents and MonitorUserAgents are extra case-insensitive
	// User-Agent substrings (bots.user_agents, monitors.user_agents).
	BotUserAgents, MonitorUserAgents []string
	// MonitorPaths are exact request paths of monitor checks.
	MonitorPaths []string
	// Wake feeds WakeDecision.
	Wake WakeRules
}

// WakeRules are the exceptions to "bots, HEAD and prefetches never wake"
// (bots.wake_on_head, bots.wake_on_prefetch).
type WakeRules struct {
	OnHead, OnPrefetch bool
}

// New builds a Classifier: the options' lists extend the built-in ones.
func New(o Options) *Classifier {
	c := &Classifier{wake: o.Wake}
	c.bots.add(builtinBots[:])
	c.bots.add(o.BotUserAgents)
	c.monitors.add(builtinMonitors[:])
	c.monitors.add(o.MonitorUserAgents)
	c.monitorPaths = append(c.monitorPaths, o.MonitorPaths...)
	return c
}

// uaScratch bounds the User-Agent lower-cased on the stack; longer ones
// (rare, and suspicious) cost one allocation.
const uaScratch = 512

// Classify decides what sent r, first match wins: monitor (User-Agent or
// path), prefetch (Sec-Purpose, Purpose, X-Purpose or X-Moz saying
// prefetch or preview), bot (built-in and configured User-Agent
// substrings, or no User-Agent at all: every browser sends one), api
// (Accept does not list text/html), else browser. It is a label for wake
// rules and budgets, not a security boundary: anyone can claim any
// User-Agent, which is why the budgets exist too. HEAD is not a class;
// WakeDecision looks at the method.
func (c *Classifier) Classify(r *http.Request) Class {
	uaLines := r.Header["User-Agent"]
	ua := ""
	if len(uaLines) > 0 {
		ua = uaLines[0]
	}
	var scratch [uaScratch]byte
	l := appendLower(scratch[:0], ua)
	if c.monitors.in(l) || c.monitorPath(r) {
		return ClassMonitor
	}
	if isPrefetch(r.Header) {
		return ClassPrefetch
	}
	if len(bytes.TrimSpace(l)) == 0 || c.bots.in(l) {
		return ClassBot
	}
	if !AcceptsHTML(r.Header["Accept"]) {
		return ClassAPI
	}
	return ClassBrowser
}

func (c *Classifier) monitorPath(r *http.Request) bool {
	if len(c.monitorPaths) == 0 || r.URL == nil {
		return false
	}
	for _, p := range c.monitorPaths {
		if r.URL.Path == p {
			return true
		}
	}
	return false
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		dst = append(dst, b)
	}
	return dst
}

// isPrefetch recognises speculative loads: Sec-Purpose (Chromium, and the
// standard), Purpose (older Chromium and Safari), X-Purpose (Safari's
// previews) and X-Moz (Firefox). "prefetch;prerender" and "preview" count.
func isPrefetch(h http.Header) bool {
	for _, name := range [...]string{"Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"} {
		for _, v := range h[name] {
			if containsFold(v, "prefetch") || containsFold(v, "preview") || containsFold(v, "prerender") {
				return true
			}
		}
	}
	return false
}

// AcceptsHTML tells a navigation from a program: an Accept header listing
// text/html (or XHTML), in any case.
func AcceptsHTML(values []string) bool {
	for _, v := range values {
		if containsFold(v, "text/html") || containsFold(v, "application/xhtml+xml") {
			return true
		}
	}
	return false
}

// containsFold reports whether lowerSub (lower case ASCII) occurs in s,
// ignoring ASCII case, without allocating.
func containsFold(s, lowerSub string) bool {
	n := len(lowerSub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			b := s[i+j]
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			if b != lowerSub[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// WakeDecision is Classifier's wake rule with its own WakeRules.
func (c *Classifier) WakeDecision(class Class, method string) (wake bool, why string) {
	return WakeDecision(class, method, c.wake)
}

// WakeDecision says whether a request of this class and method may wake a
// sleeping backend, and why not. Bots and monitors never wake; HEAD and
// OPTIONS (link checkers, CORS preflights: the real request follows) wake
// only with rules.OnHead (bots.wake_on_head); prefetches only with
// rules.OnPrefetch (bots.wake_on_prefetch).
// Browsers and API clients wake, subject to the budgets. Requests that do
// not wake still get the page (or the monitor answer). For hosts in
// `wake: click` mode a GET never wakes whatever this says: only the POST
// carrying a valid token (see Tokens) does, and that POST is judged here
// like any other request.
func WakeDecision(class Class, method string, rules WakeRules) (wake bool, why string) {
	switch class {
	case ClassMonitor:
		return false, "uptime monitor"
	case ClassBot:
		return false, "crawler or link preview"
	}
	if method == http.MethodHead || method == http.MethodOptions {
		if !rules.OnHead {
			return false, method + " request"
		}
	}
	if class == ClassPrefetch && !rules.OnPrefetch {
		return false, "prefetch"
	}
	return true, ""
}
