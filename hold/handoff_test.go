package hold_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/hold"
)

var loopbackProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func TestResendable(t *testing.T) {
	h, err := hold.New(hold.Options{Controller: stubController{}, TrustedProxies: loopbackProxies})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	for _, tc := range []struct {
		name, method, path, peer string
		want                     bool
	}{
		{"GET through the proxy", http.MethodGet, "/", "127.0.0.1:5000", true},
		{"HEAD through the proxy", http.MethodHead, "/", "127.0.0.1:5000", true},
		{"OPTIONS through the proxy", http.MethodOptions, "/", "127.0.0.1:5000", true},
		{"POST through the proxy: may be a replay", http.MethodPost, "/order", "127.0.0.1:5000", false},
		{"PUT through the proxy", http.MethodPut, "/order", "127.0.0.1:5000", false},
		{"DELETE through the proxy", http.MethodDelete, "/order", "127.0.0.1:5000", false},
		{"POST the proxy marked untried", http.MethodPost, hold.UntriedPrefix + "/order", "127.0.0.1:5000", true},
		{"POST straight from a client: nothing replayed it", http.MethodPost, "/order", "203.0.113.9:5000", true},
		{"POST from an unparsable peer", http.MethodPost, "/order", "pipe", false},
		{"a lookalike prefix is no mark", http.MethodPost, hold.UntriedPrefix + "x/order", "127.0.0.1:5000", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://"+testHost+tc.path, nil)
			r.RemoteAddr = tc.peer
			r, _ = h.Untried(r)
			if got := h.Resendable(r); got != tc.want {
				t.Errorf("Resendable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUntriedStripsItsPrefixOnly(t *testing.T) {
	for _, tc := range []struct{ in, wantURI string }{
		{hold.UntriedPrefix + "/a/b?x=1", "/a/b?x=1"},
		{hold.UntriedPrefix, "/"},
		{hold.UntriedPrefix + "/", "/"},
		{hold.UntriedPrefix + "/a%2Fb", "/a%2Fb"},
		{hold.UntriedPrefix + hold.UntriedPrefix + "/x", hold.UntriedPrefix + "/x"},
	} {
		r := httptest.NewRequest(http.MethodPost, "http://"+testHost+tc.in, nil)
		out, ok := hold.Untried(r)
		if !ok || out.URL.RequestURI() != tc.wantURI || out.RequestURI != tc.wantURI {
			t.Errorf("Untried(%s) = %q (RequestURI %q), %v; want %q", tc.in, out.URL.RequestURI(), out.RequestURI, ok, tc.wantURI)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "http://"+testHost+"/.waitingroom/untriedx", nil)
	if out, ok := hold.Untried(r); ok || out != r {
		t.Errorf("a path that only starts like the prefix was taken as marked")
	}
}

func TestUnsafeRequestForRunningHostThroughProxyIsNeverResent(t *testing.T) {
	e := newEnv(t, envOptions{running: true, hold: hold.Options{TrustedProxies: loopbackProxies}})
	before := e.backendN.Load()
	status, h, body, err := e.do(e.request(context.Background(), http.MethodPost, testHost, "/order", strings.NewReader("pay 10")))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || decodeRefusal(t, body).Reason != hold.ReasonNotResent {
		t.Errorf("status %d, body %s; want 503 not_resent with Retry-After", status, body)
	}
	if n := e.backendN.Load() - before; n != 0 {
		t.Errorf("the backend saw the POST %d times, want 0 (it may have seen it before the replay)", n)
	}
	if e.prov.StatusCalls() == 0 {
		t.Errorf("the backend was not re-read (no provider Status call)")
	}
}

func TestHandoffForwardsAndCountsAsActivity(t *testing.T) {
	e := newEnv(t, envOptions{running: true})
	h, _ := e.ctl.Registry().Lookup(testHost)
	r := httptest.NewRequest(http.MethodGet, "http://"+testHost+"/page?q=1", nil)
	w := httptest.NewRecorder()
	if err := e.holder.Handoff(w, r, h); err != nil {
		t.Fatalf("Handoff: %v", err)
	}
	if w.Code != http.StatusOK || w.Header().Get("X-Echo-Path") != "/page?q=1" || w.Header().Get("X-Echo-Host") != testHost {
		t.Errorf("answer %d %v; want the backend's echo of /page?q=1 for %s", w.Code, w.Header(), testHost)
	}
	_, rec, err := e.ctl.Status(context.Background(), testHost)
	if err != nil || rec.ActivitySource != "hold" {
		t.Errorf("last activity %q (%v), want hold", rec.ActivitySource, err)
	}
	if got := e.metricValue("waitingroom_handoffs_total", map[string]string{"result": "forwarded"}); got != 1 {
		t.Errorf("handoffs_total{forwarded} = %v, want 1", got)
	}
}

func TestHandoffPassesTheAppsOwnErrorsThrough(t *testing.T) {
	e := newEnv(t, envOptions{running: true, backend: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})})
	h, _ := e.ctl.Registry().Lookup(testHost)
	w := httptest.NewRecorder()
	if err := e.holder.Handoff(w, httptest.NewRequest(http.MethodGet, "http://"+testHost+"/", nil), h); err != nil {
		t.Fatalf("Handoff: %v", err)
	}
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "maintenance") {
		t.Errorf("answer %d %q; want the app's own 503 page", w.Code, w.Body)
	}
}

func TestHandoffToABackendThatDoesNotAnswerWritesNothingAndRechecks(t *testing.T) {
	dead := deadURL(t)
	e := newEnv(t, envOptions{
		noReadyURL: true, running: true, quietLogs: true,
		hold: hold.Options{Backend: func(controller.Host) (*url.URL, error) { return dead, nil }},
	})
	calls := e.prov.StatusCalls()
	h, _ := e.ctl.Registry().Lookup(testHost)
	w := httptest.NewRecorder()
	err := e.holder.Handoff(w, httptest.NewRequest(http.MethodGet, "http://"+testHost+"/", nil), h)
	if !errors.Is(err, hold.ErrBackendDown) {
		t.Fatalf("Handoff = %v, want ErrBackendDown", err)
	}
	if len(w.Header()) != 0 || w.Body.Len() != 0 || w.Flushed {
		t.Errorf("Handoff wrote %v %q; the caller must be free to answer", w.Header(), w.Body)
	}
	if e.prov.StatusCalls() == calls {
		t.Errorf("the backend was not re-read (no provider Status call)")
	}
	if got := e.metricValue("waitingroom_handoffs_total", map[string]string{"result": "backend_down"}); got != 1 {
		t.Errorf("handoffs_total{backend_down} = %v, want 1", got)
	}
}

// stubController satisfies hold.Controller for tests that never reach it.
type stubController struct{ hold.Controller }

// frontHandingOff makes the env's front server do what the public listener
// does for an API client of a running host: hand the request off, and hold
// it (Serve) when the handoff reports that the backend did not answer.
func frontHandingOff(e **env) func(*http.Server) {
	return func(s *http.Server) {
		s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h, _ := (*e).ctl.Registry().Lookup(r.Host)
			if err := (*e).holder.Handoff(w, r, h); err == nil || r.Context().Err() != nil {
				return
			}
			(*e).holder.Serve(w, r, h, controller.Client{Display: "127.0.0.x", Class: "api"})
		})
	}
}

func TestFailedHandoffKeepsTheBodyForTheHold(t *testing.T) {
	// The first address refuses the connection (a backend killed behind
	// waitingroom's back); by the time the request is held, the backend
	// answers again. The POST's body must reach it, once.
	dead := deadURL(t)
	var e *env
	var lookups atomic.Int64
	e = newEnv(t, envOptions{
		running: true, quietLogs: true, front: frontHandingOff(&e),
		hold: hold.Options{Backend: func(controller.Host) (*url.URL, error) {
			if lookups.Add(1) == 1 {
				return dead, nil
			}
			return url.Parse(e.backend.URL)
		}},
	})
	before := e.backendN.Load()
	status, _, body, err := e.do(e.request(context.Background(), http.MethodPost, testHost, "/order", strings.NewReader("pay 10")))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || string(body) != "pay 10" {
		t.Errorf("answer %d %q; want the backend's echo of the body", status, body)
	}
	if n := e.backendN.Load() - before; n != 1 {
		t.Errorf("the backend saw the POST %d times, want 1", n)
	}
}

func TestHandoffThatMayHaveReachedTheBackendIsNeverSentAgain(t *testing.T) {
	// The backend reads the request and drops the connection without an
	// answer: it may have acted on it. A failed handoff must not let the
	// caller hold the request and send it again.
	var e *env
	e = newEnv(t, envOptions{
		running: true, quietLogs: true, front: frontHandingOff(&e),
		backend: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = c.Close()
			}
		}),
	})
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"POST without a body", nil},
		{"POST with a body", strings.NewReader("pay 10")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.backendN.Load()
			status, _, body, err := e.do(e.request(context.Background(), http.MethodPost, testHost, "/order", tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if n := e.backendN.Load() - before; n != 1 {
				t.Errorf("the backend saw the POST %d times, want 1", n)
			}
			if status != http.StatusBadGateway || decodeRefusal(t, body).Reason != hold.ReasonBackendError {
				t.Errorf("answer %d %q; want 502 backend_error", status, body)
			}
		})
	}
}

func TestRechecksOfABackendThatDoesNotAnswerAreRateLimited(t *testing.T) {
	// The provider says running, the backend refuses every connection: a
	// flood of requests must not become a flood of provider calls (a cloud
	// API with a quota).
	dead := deadURL(t)
	e := newEnv(t, envOptions{
		noReadyURL: true, running: true, quietLogs: true,
		hold: hold.Options{Backend: func(controller.Host) (*url.URL, error) { return dead, nil }},
	})
	h, _ := e.ctl.Registry().Lookup(testHost)
	calls := e.prov.StatusCalls()
	err := e.holder.Handoff(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "http://"+testHost+"/", nil), h)
	if !errors.Is(err, hold.ErrBackendDown) {
		t.Fatalf("Handoff = %v, want ErrBackendDown", err)
	}
	// What every further request for the host does meanwhile (a POST not
	// resent, a handoff that fails).
	const n = 20
	for range n {
		e.holder.Recheck(context.Background(), testHost)
	}
	if got := e.prov.StatusCalls() - calls; got < 1 || got > 2 {
		t.Errorf("%d requests that found the backend gone re-read it %d times; want 1 (the controller allows one per host per second)", n+1, got)
	}
}

func TestBackendAddressLeadingBackToWaitingroomIsALoopNotAHang(t *testing.T) {
	// A host whose backend address is waitingroom itself (or a proxy that
	// sends the host back to it, e.g. a ready_url on the public name):
	// each forward would come back and be forwarded again, until every
	// forward slot is taken and every request for the host hangs.
	var e *env
	e = newEnv(t, envOptions{
		running: true, quietLogs: true, front: frontHandingOff(&e),
		hold: hold.Options{Backend: func(controller.Host) (*url.URL, error) { return url.Parse(e.front.URL) }},
	})
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		status, _, body, err := e.do(e.request(ctx, method, testHost, "/", nil))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v; want an answer, not a hang", method, err)
		}
		if status != http.StatusLoopDetected || decodeRefusal(t, body).Reason != hold.ReasonLoop {
			t.Errorf("%s: %d %q; want 508 loop", method, status, body)
		}
	}
}
