package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/waitingroom/waitingroom/controller"
)

// fakeHolder records what the public listener asks of a Holder. Handoff
// answers 200 "from the backend" unless down is set; Resendable is the safe
// methods; Untried strips "/.waitingroom/untried".
type fakeHolder struct {
	down bool

	mu        sync.Mutex
	handoffs  []string // request URIs handed off
	served    int      // requests held
	rechecks  int
	resendAll bool
}

func (f *fakeHolder) ShouldHold(r *http.Request, _ controller.Host) bool {
	return !strings.Contains(r.Header.Get("Accept"), "text/html")
}

func (f *fakeHolder) Serve(w http.ResponseWriter, _ *http.Request, _ controller.Host, _ controller.Client) {
	f.mu.Lock()
	f.served++
	f.mu.Unlock()
	w.WriteHeader(http.StatusTeapot)
}

func (f *fakeHolder) Handoff(w http.ResponseWriter, r *http.Request, _ controller.Host) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handoffs = append(f.handoffs, r.Method+" "+r.URL.RequestURI())
	if f.down {
		f.rechecks++
		return errors.New("backend did not answer")
	}
	_, _ = w.Write([]byte("from the backend"))
	return nil
}

func (f *fakeHolder) Resendable(r *http.Request) bool {
	return f.resendAll || r.Method == http.MethodGet || r.Method == http.MethodHead
}

func (f *fakeHolder) Untried(r *http.Request) (*http.Request, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/.waitingroom/untried")
	if !ok {
		return r, false
	}
	r = r.Clone(r.Context())
	r.URL.Path = rest
	f.resendAll = true
	return r, true
}

func (f *fakeHolder) Recheck(context.Context, string) {
	f.mu.Lock()
	f.rechecks++
	f.mu.Unlock()
}

func handoffEnv(t *testing.T, state controller.State, holder *fakeHolder) (*fakeController, *Public) {
	t.Helper()
	f := newFakeController("app.example.com")
	f.set(controller.Record{Host: "app.example.com", State: state})
	p := newTestPublic(t, f, func(o *PublicOptions) { o.Holder = holder })
	return f, p
}

func request(p *Public, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://app.example.com"+target, nil)
	r.Header.Set("User-Agent", browserUA)
	r.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w
}

func TestRunningHostsRequestIsHandedOffNotAnsweredWithAPage(t *testing.T) {
	// API clients too (the fake holds everything but HTML): a running
	// host's request is streamed through the handoff, not buffered.
	for _, accept := range []string{"text/html", "application/json"} {
		h := &fakeHolder{}
		_, p := handoffEnv(t, controller.StateRunning, h)
		w := request(p, http.MethodGet, "/shop?x=1", "Accept", accept)
		if w.Code != http.StatusOK || w.Body.String() != "from the backend" {
			t.Errorf("Accept %s: %d %q; want the backend's answer", accept, w.Code, w.Body)
		}
		if len(h.handoffs) != 1 || h.handoffs[0] != "GET /shop?x=1" || h.served != 0 {
			t.Errorf("Accept %s: handoffs %v, held %d; want one handoff of GET /shop?x=1 and nothing held", accept, h.handoffs, h.served)
		}
	}
}

func TestRunningHostWhoseBackendDoesNotAnswerGetsAnHonestPage(t *testing.T) {
	h := &fakeHolder{down: true}
	_, p := handoffEnv(t, controller.StateRunning, h)
	w := request(p, http.MethodGet, "/")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "did not answer; waitingroom is checking on it") {
		t.Errorf("%d %q; want the 503 page saying the backend did not answer", w.Code, w.Body)
	}
	if w.Header().Get("Retry-After") == "" || w.Header().Get("X-Waitingroom-State") != "running" {
		t.Errorf("headers %v; want Retry-After and the running state", w.Header())
	}
}

func TestUnsafeRequestForRunningHostIsNotResent(t *testing.T) {
	h := &fakeHolder{}
	_, p := handoffEnv(t, controller.StateRunning, h)
	w := request(p, http.MethodPost, "/order")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "does not send it again") {
		t.Errorf("%d %q; want 503 saying the POST is not sent again", w.Code, w.Body)
	}
	if len(h.handoffs) != 0 || h.rechecks != 1 {
		t.Errorf("handoffs %v, rechecks %d; want none handed off and the host re-read once", h.handoffs, h.rechecks)
	}
	// Marked untried by the proxy: it goes, with its own path.
	w = request(p, http.MethodPost, "/.waitingroom/untried/order")
	if w.Code != http.StatusOK || len(h.handoffs) != 1 || h.handoffs[0] != "POST /order" {
		t.Errorf("untried POST: %d, handoffs %v; want POST /order handed off", w.Code, h.handoffs)
	}
}

func TestWaitingPageSubrequestsNeitherWakeNorWait(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		header       []string
	}{
		{"favicon", "/favicon.ico", []string{"Accept", "image/avif,image/webp,*/*"}},
		{"image by fetch metadata", "/logo.png", []string{"Sec-Fetch-Dest", "image", "Accept", "image/*"}},
		{"script by fetch metadata", "/app.js", []string{"Sec-Fetch-Dest", "script", "Accept", "*/*"}},
		{"style by fetch metadata", "/app.css", []string{"Sec-Fetch-Dest", "style", "Accept", "text/css"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHolder{}
			f, p := handoffEnv(t, controller.StateStopped, h)
			w := request(p, http.MethodGet, tc.target, tc.header...)
			if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "<html") {
				t.Errorf("%d %q; want a short 503 without the page", w.Code, w.Body)
			}
			if f.wakes.Load() != 0 || h.served != 0 || len(h.handoffs) != 0 {
				t.Errorf("wakes %d, held %d, handoffs %d; want none", f.wakes.Load(), h.served, len(h.handoffs))
			}
			// Once the host runs, the same request is the app's: handed off.
			f.set(controller.Record{Host: "app.example.com", State: controller.StateRunning})
			if w := request(p, http.MethodGet, tc.target, tc.header...); w.Code != http.StatusOK || len(h.handoffs) != 1 {
				t.Errorf("running: %d, handoffs %v; want it handed off", w.Code, h.handoffs)
			}
		})
	}
	// A navigation still wakes.
	h := &fakeHolder{}
	f, p := handoffEnv(t, controller.StateStopped, h)
	if w := request(p, http.MethodGet, "/", "Sec-Fetch-Dest", "document"); w.Code != http.StatusServiceUnavailable || f.wakes.Load() != 1 {
		t.Errorf("navigation: %d with %d wakes; want the page and a wake", w.Code, f.wakes.Load())
	}
}

func TestWaitingPageDeclaresAnEmptyIcon(t *testing.T) {
	_, p := handoffEnv(t, controller.StateStopped, &fakeHolder{})
	if w := request(p, http.MethodGet, "/"); !strings.Contains(w.Body.String(), `<link rel="icon" href="data:,">`) {
		t.Errorf("the page declares no icon of its own: the browser would ask the sleeping site for /favicon.ico")
	}
}
