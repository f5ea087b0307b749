package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// The dashboard speaks plain words: no "(no budget)" that reads as used
// up, no configuration jargon for where activity came from.
func TestDashboardSpeaksPlainWords(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	if err := s.store.Touch(context.Background(), "app.example.com", controller.Activity{At: time.Now(), Source: "adopted"}); err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	s.login(t, c)
	page := s.do(t, c, http.MethodGet, "/", nil)
	for _, want := range []string{"0 (no limit)", "found running (started outside waitingroom)"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	for _, jargon := range []string{"(no budget)", ">adopted<"} {
		if strings.Contains(page.body, jargon) {
			t.Errorf("dashboard says %q", jargon)
		}
	}
	api := s.do(t, c, http.MethodGet, "/api/hosts/app.example.com", nil)
	if !strings.Contains(api.body, `"activity_source":"adopted"`) || !strings.Contains(api.body, `"activity_source_text":"found running`) {
		t.Errorf("API keeps the machine name and adds the words:\n%s", api.body)
	}
}

func TestSourceAndSleepWords(t *testing.T) {
	for in, want := range map[string]string{
		"hold": "held request (an API client waiting)", "adopted": "found running (started outside waitingroom)",
		"page": "waiting page", "dashboard": "dashboard", "something-new": "something-new", "": "",
	} {
		if got := sourceWords(in); got != want {
			t.Errorf("sourceWords(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"stop": "stopped", "suspend": "suspended", "pause": "paused"} {
		if got := sleepWords(in); got != want {
			t.Errorf("sleepWords(%q) = %q, want %q", in, got, want)
		}
	}
	h := hostJSON{WakesToday: 1}
	if got := budgetText(h); got != "1 (no limit)" {
		t.Errorf("budgetText without a budget = %q", got)
	}
}

// Browsers ask every site for /favicon.ico: the admin listener answers
// with its icon, logged in or not, instead of a 404 per page.
func TestAdminServesFavicon(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	for _, path := range []string{"/favicon.ico", adminStaticPrefix + "favicon.svg"} {
		res := s.do(t, nil, http.MethodGet, path, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(res.body, "<svg") {
			t.Errorf("%s: %d %q %.40q", path, res.StatusCode, res.Header.Get("Content-Type"), res.body)
		}
	}
	login := s.do(t, nil, http.MethodGet, "/login", nil)
	if !strings.Contains(login.body, `<link rel="icon" href="`+adminStaticPrefix+`favicon.svg"`) {
		t.Error("the pages do not name their icon")
	}
}
