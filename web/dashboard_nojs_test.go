package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/waitingroom/waitingroom/controller"
)

// TestWithoutJavaScriptFormsConfirmAndPagesRefresh: a wake or stop sent
// by a form comes back to its page with a confirmation; hosts pages
// reload themselves when scripts do not run (every 5 s at most: the
// setup streams every 200 ms); nothing else from the
// address is shown.
func TestWithoutJavaScriptFormsConfirmAndPagesRefresh(t *testing.T) {
	s := newDashSetup(t, nil, nil)
	s.setStopped(t, "app.example.com")
	c := s.client(t)
	token := s.login(t, c)

	post := func(action, back string) string {
		t.Helper()
		form := url.Values{"csrf": {token}, "back": {back}}
		res := s.do(t, c, "POST", "/api/hosts/app.example.com/"+action, strings.NewReader(form.Encode()),
			"Content-Type: application/x-www-form-urlencoded")
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s by form: %d %s", action, res.StatusCode, res.body)
		}
		return res.Header.Get("Location")
	}
	if got := post("wake", "/"); got != "/?done=wake&host=app.example.com" {
		t.Errorf("wake came back to %q", got)
	}
	s.waitState(t, "app.example.com", controller.StateRunning)
	if got := post("stop", "/hosts/app.example.com"); got != "/hosts/app.example.com?done=stop&host=app.example.com" {
		t.Errorf("stop came back to %q", got)
	}
	if got := post("stop", "https://evil.example/"); got != "/?done=stop&host=app.example.com" {
		t.Errorf("a stop with an outside back came back to %q", got)
	}

	const (
		stopped = `<p id="done" class="ok" role="status">Stop requested: app.example.com is going to sleep.`
		woken   = `<p id="done" class="ok" role="status">Wake requested: app.example.com is waking up.</p>`
	)
	tests := []struct {
		path         string
		want, absent []string
	}{
		{"/", []string{`<noscript><meta http-equiv="refresh" content="5"></noscript>`}, []string{`id="done"`}},
		{"/?done=stop&host=app.example.com", []string{stopped, `<noscript><meta http-equiv="refresh" content="3; url=/"></noscript>`}, nil},
		{"/hosts/app.example.com?done=wake&host=app.example.com", []string{woken,
			`<noscript><meta http-equiv="refresh" content="3; url=/hosts/app.example.com"></noscript>`}, nil},
		{"/?done=stop&host=evil.example.com", []string{`content="5"`}, []string{`id="done"`, "evil"}},
		{"/?done=%3Cscript%3E&host=app.example.com", nil, []string{`id="done"`, "<script>"}},
		{"/config", nil, []string{`http-equiv="refresh"`, `id="done"`}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res := s.do(t, c, "GET", tc.path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", res.StatusCode, res.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.body, w) {
					t.Errorf("lacks %s", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(res.body, a) {
					t.Errorf("shows %s", a)
				}
			}
		})
	}
}
