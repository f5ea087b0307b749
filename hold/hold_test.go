package hold_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/hold"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

func TestHeldPostsAllGetTheirOwnAnswerWithOneStart(t *testing.T) {
	const n = 500
	// Caps above the crowd: this is about every held request getting its
	// own answer, not about the caps (tested on their own).
	e := newEnv(t, envOptions{delay: 300 * time.Millisecond, hold: hold.Options{MaxPerHost: n, MaxTotal: n}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var maxHeld atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for i := 0; i < 100000; i++ {
			if v := int64(e.holder.Held(testHost)); v > maxHeld.Load() {
				maxHeld.Store(v)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	type result struct {
		i      int
		status int
		method string
		body   []byte
		sent   []byte
		err    error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Distinct bodies of different sizes, up to 8 KiB.
			sent := []byte(fmt.Sprintf("request %d:", i) + strings.Repeat(strconv.Itoa(i%10), (i*37)%8192))
			req := e.request(ctx, http.MethodPost, testHost, "/echo?i="+strconv.Itoa(i), bytes.NewReader(sent))
			req.Header.Set("Content-Type", "application/x-test")
			status, h, body, err := e.do(req)
			results <- result{i: i, status: status, method: h.Get("X-Echo-Method"), body: body, sent: sent, err: err}
		}()
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	close(results)

	for r := range results {
		if r.err != nil {
			t.Errorf("request %d: %v", r.i, r.err)
			continue
		}
		if r.status != http.StatusOK || r.method != http.MethodPost || !bytes.Equal(r.body, r.sent) {
			t.Errorf("request %d: status %d, method %q, body of %d bytes (sent %d): %.80q",
				r.i, r.status, r.method, len(r.body), len(r.sent), r.body)
		}
	}
	if got := e.prov.Starts(testHost); got != 1 {
		t.Errorf("provider started %d times, want exactly 1", got)
	}
	if got := e.backendN.Load(); got != n {
		t.Errorf("backend answered %d requests, want %d", got, n)
	}
	if maxHeld.Load() < 2 {
		t.Errorf("at most %d requests were held at once: the requests were not held while the backend woke", maxHeld.Load())
	}
	if got := e.metricValue("waitingroom_hold_wait_seconds", map[string]string{"host": testHost}); got != n {
		t.Errorf("hold wait histogram counted %v requests, want %d", got, n)
	}
	if e.holder.Held(testHost) != 0 || e.holder.HeldTotal() != 0 {
		t.Errorf("after the test %d requests are still counted as held", e.holder.HeldTotal())
	}
	t.Logf("at most %d requests held at once", maxHeld.Load())
}

func TestOverCapAnswers503AtOnceAndHeldNeverExceedsCap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPerHost int
		maxTotal   int
		hosts      []string
		reason     string
		limit      int
	}{
		{name: "per host", maxPerHost: 10, hosts: []string{testHost}, reason: hold.ReasonHostCap, limit: 10},
		{name: "total", maxPerHost: 100, maxTotal: 10, hosts: []string{testHost, "b." + testHost}, reason: hold.ReasonTotalCap, limit: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 30
			release := make(chan struct{})
			var releaseOnce sync.Once
			releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
			t.Cleanup(releaseAll)
			e := newEnv(t, envOptions{
				hosts: tc.hosts, release: release,
				hold: hold.Options{MaxPerHost: tc.maxPerHost, MaxTotal: tc.maxTotal},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			// Sample the held count and the gauge all through the test.
			var maxHeld, maxGauge atomic.Int64
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for i := 0; i < 20000; i++ {
					if v := int64(e.holder.HeldTotal()); v > maxHeld.Load() {
						maxHeld.Store(v)
					}
					if v := int64(e.metricValue("waitingroom_held_requests", nil)); v > maxGauge.Load() {
						maxGauge.Store(v)
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}()

			type result struct {
				status  int
				retry   string
				body    []byte
				elapsed time.Duration
				err     error
			}
			results := make(chan result, n)
			for i := range n {
				go func() {
					host := tc.hosts[i%len(tc.hosts)]
					req := e.request(ctx, http.MethodPost, host, "/echo", strings.NewReader("x"))
					start := time.Now()
					status, h, body, err := e.do(req)
					var retry string
					if h != nil {
						retry = h.Get("Retry-After")
					}
					results <- result{status, retry, body, time.Since(start), err}
				}()
			}
			// Every request over the cap is answered while the others
			// are still held: the backend cannot start before release.
			var ok, refused int
			for range n - tc.limit {
				r := <-results
				if r.err != nil {
					t.Fatalf("request failed: %v", r.err)
				}
				if r.status != http.StatusServiceUnavailable {
					t.Fatalf("status %d while the backend cannot be up yet, want 503: %s", r.status, r.body)
				}
				if r.retry == "" {
					t.Errorf("503 without Retry-After")
				}
				if r.elapsed > 2*time.Second {
					t.Errorf("refusal took %s, want at once", r.elapsed)
				}
				if got := decodeRefusal(t, r.body); got.Reason != tc.reason || got.RetryAfter < 1 || got.Host == "" {
					t.Errorf("refusal %+v, want reason %s, a host and retry_after", got, tc.reason)
				}
				refused++
			}
			poll.Until(t, 10*time.Second, "the cap's worth of requests held", func() bool { return e.holder.HeldTotal() == tc.limit })
			// The sampler reads every millisecond or so, but may be
			// descheduled: let it see the full queue before releasing it
			// (released at once, it missed it: flaky "held at most 6").
			poll.Until(t, 10*time.Second, "the sampler to see the full queue", func() bool { return maxHeld.Load() == int64(tc.limit) })
			releaseAll()
			for range tc.limit {
				r := <-results
				if r.err != nil || r.status != http.StatusOK {
					t.Errorf("held request: status %d, err %v: %s", r.status, r.err, r.body)
					continue
				}
				ok++
			}
			close(stop)
			<-sampled
			if refused != n-tc.limit || ok != tc.limit {
				t.Errorf("%d refused and %d forwarded, want %d and %d", refused, ok, n-tc.limit, tc.limit)
			}
			if maxHeld.Load() > int64(tc.limit) || maxGauge.Load() > int64(tc.limit) {
				t.Errorf("held up to %d (gauge %d), over the cap %d", maxHeld.Load(), maxGauge.Load(), tc.limit)
			}
			if maxHeld.Load() != int64(tc.limit) {
				t.Errorf("held at most %d, want the cap %d reached", maxHeld.Load(), tc.limit)
			}
			if got := e.metricValue("waitingroom_hold_rejections_total", map[string]string{"reason": tc.reason}); got != float64(n-tc.limit) {
				t.Errorf("rejections_total{reason=%s} = %v, want %d", tc.reason, got, n-tc.limit)
			}
		})
	}
}

func TestCancelledHeldClientsLeaveNothingBehind(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// Registered first, so it runs last: after the environment's cleanups
	// have stopped the servers, the Holder and the controller.
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	// No ready_url: readiness is the provider's status, so the probe
	// loop opens no connections and the goroutine count holds still.
	e := newEnv(t, envOptions{never: true, noReadyURL: true})
	// The wake (and its probe loop) belongs to the baseline: it runs
	// whether or not anyone is held.
	if _, err := e.ctl.Wake(context.Background(), testHost, controller.Client{Source: "test"}); err != nil {
		t.Fatalf("wake: %v", err)
	}
	// Start is called once the wake's own goroutines (lease renewal,
	// readiness loop) run.
	poll.Until(t, 5*time.Second, "the provider start", func() bool { return e.prov.Starts(testHost) == 1 })
	e.client.Transport.(*http.Transport).DisableKeepAlives = true
	baseline := runtime.NumGoroutine()

	const n = 50
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, n)
	for range n {
		go func() {
			req := e.request(ctx, http.MethodPost, testHost, "/echo", strings.NewReader("body"))
			_, _, _, err := e.do(req)
			done <- err
		}()
	}
	poll.Until(t, 10*time.Second, "all requests held", func() bool { return e.holder.Held(testHost) == n })
	cancel()
	for range n {
		if err := <-done; err == nil {
			t.Errorf("a cancelled request got an answer")
		}
	}
	poll.Until(t, 5*time.Second, "held requests dropped", func() bool { return e.holder.HeldTotal() == 0 })
	var now int
	deadline := time.Now().Add(5 * time.Second)
	for now = runtime.NumGoroutine(); now > baseline; now = runtime.NumGoroutine() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines 5s after the clients left, baseline %d:\n%s", now, baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("goroutines: baseline %d, after cancelling %d held requests %d", baseline, n, now)
	if got := e.metricValue("waitingroom_held_requests", nil); got != 0 {
		t.Errorf("held gauge %v after every client left, want 0", got)
	}
}

func TestNeverReadyAnswersJSON503AtHoldTimeout(t *testing.T) {
	const holdTimeout = time.Second
	e := newEnv(t, envOptions{never: true, holdTimeout: holdTimeout})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const n = 20
	type result struct {
		status  int
		h       http.Header
		body    []byte
		elapsed time.Duration
		err     error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			req := e.request(ctx, http.MethodPost, testHost, "/webhook", strings.NewReader(`{"event":"x"}`))
			start := time.Now()
			status, h, body, err := e.do(req)
			results <- result{status, h, body, time.Since(start), err}
		}()
	}
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("request: %v", r.err)
		}
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503: %s", r.status, r.body)
		}
		if r.elapsed < holdTimeout || r.elapsed > holdTimeout+time.Second {
			t.Errorf("answered after %s, want at hold_timeout %s (not before, not a second later)", r.elapsed, holdTimeout)
		}
		if r.h.Get("Content-Type") != "application/json" || r.h.Get("Retry-After") == "" || r.h.Get("Cache-Control") != "no-store" {
			t.Errorf("headers %v, want JSON, Retry-After, no-store", r.h)
		}
		got := decodeRefusal(t, r.body)
		if got.Host != testHost || got.State != string(controller.StateStarting) || got.RetryAfter < 1 ||
			got.Reason != hold.ReasonTimeout || got.Message == "" {
			t.Errorf("body %+v, want host, state starting, retry_after, reason timeout, message", got)
		}
	}
	if got := e.metricValue("waitingroom_hold_rejections_total", map[string]string{"reason": hold.ReasonTimeout}); got != n {
		t.Errorf("timeout rejections %v, want %d", got, n)
	}
	if e.backendN.Load() != 0 {
		t.Errorf("the backend that never got ready received %d requests", e.backendN.Load())
	}
}

func TestFailedStartAnswersAtOnce(t *testing.T) {
	e := newEnv(t, envOptions{failStart: errBoom, holdTimeout: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	status, h, body, err := e.do(e.request(ctx, http.MethodGet, testHost, "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("status %d (Retry-After %q), want 503 with Retry-After: %s", status, h.Get("Retry-After"), body)
	}
	got := decodeRefusal(t, body)
	if got.Reason != hold.ReasonStartFailed || got.State != string(controller.StateFailed) || !strings.Contains(got.Message, "no such container") {
		t.Errorf("refusal %+v, want start_failed, state failed, the provider's reason", got)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("answered after %s: a failed start should not wait for hold_timeout", el)
	}
}

func TestBodyOverLimitGets413BeforeAnyWake(t *testing.T) {
	const limit = 1024
	e := newEnv(t, envOptions{hold: hold.Options{MaxBodyBytes: limit}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name    string
		body    []byte
		chunked bool
	}{
		{name: "content-length over the limit", body: bytes.Repeat([]byte("a"), limit+1)},
		{name: "chunked over the limit", body: bytes.Repeat([]byte("b"), 4*limit), chunked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := e.request(ctx, http.MethodPost, testHost, "/upload", bytes.NewReader(tc.body))
			if tc.chunked {
				req.ContentLength = -1 // unknown length: sent chunked
			}
			status, _, body, err := e.do(req)
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413: %s", status, body)
			}
			if got := decodeRefusal(t, body); got.Reason != hold.ReasonBodyTooLarge {
				t.Errorf("refusal %+v, want reason body_too_large", got)
			}
		})
	}
	if got := e.prov.Starts(testHost); got != 0 {
		t.Errorf("a refused body woke the backend (%d starts)", got)
	}
	if e.holder.HeldTotal() != 0 {
		t.Errorf("%d requests still held", e.holder.HeldTotal())
	}
	// A body of exactly the limit is held and forwarded intact.
	sent := bytes.Repeat([]byte("c"), limit)
	status, _, body, err := e.do(e.request(ctx, http.MethodPost, testHost, "/upload", bytes.NewReader(sent)))
	if err != nil || status != http.StatusOK || !bytes.Equal(body, sent) {
		t.Errorf("body at the limit: status %d, err %v, %d bytes back", status, err, len(body))
	}
}

func TestBudgetRefusalIs429WithRetryAfter(t *testing.T) {
	e := newEnv(t, envOptions{gate: budgetGate{}})
	status, h, body, err := e.do(e.request(context.Background(), http.MethodPost, testHost, "/", strings.NewReader("x")))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusTooManyRequests || h.Get("Retry-After") != "90" {
		t.Fatalf("status %d, Retry-After %q, want 429 and 90: %s", status, h.Get("Retry-After"), body)
	}
	if got := decodeRefusal(t, body); got.Reason != hold.ReasonBudget || got.RetryAfter != 90 {
		t.Errorf("refusal %+v, want budget, retry_after 90", got)
	}
	if e.prov.Starts(testHost) != 0 {
		t.Errorf("over budget, the backend was started")
	}
}

type budgetGate struct{}

func (budgetGate) AllowWake(context.Context, controller.Host, controller.Client) error {
	return &controller.BudgetError{Budget: "host per day", RetryAfter: 90 * time.Second}
}

func TestUnknownHostIs404(t *testing.T) {
	e := newEnv(t, envOptions{})
	status, _, body, err := e.do(e.request(context.Background(), http.MethodGet, "nobody.example.com", "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusNotFound || decodeRefusal(t, body).Reason != hold.ReasonUnknownHost {
		t.Errorf("status %d, body %s; want 404 unknown_host", status, body)
	}
}

// A held request outlives the public server's ReadTimeout: net/http clears
// the read deadline once the body is read (older versions cancelled the
// request's context when it passed).
func TestServerReadTimeoutDoesNotCutAHeldRequest(t *testing.T) {
	e := newEnv(t, envOptions{
		delay: 1200 * time.Millisecond,
		front: func(s *http.Server) { s.ReadTimeout = 300 * time.Millisecond },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, _, body, err := e.do(e.request(ctx, http.MethodPost, testHost, "/", strings.NewReader("still here")))
	if err != nil || status != http.StatusOK || string(body) != "still here" {
		t.Errorf("status %d, err %v, body %q; want the backend's answer after the server's ReadTimeout passed", status, err, body)
	}
}

func TestShouldHold(t *testing.T) {
	hd, err := hold.New(hold.Options{Controller: &controller.Controller{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hd.Close)
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, tc := range []struct {
		wait, accept string
		want         bool
	}{
		{"auto", browser, false},
		{"auto", "TEXT/HTML", false},
		{"auto", "application/json", true},
		{"auto", "*/*", true},
		{"auto", "", true},
		{"", browser, false},
		{"", "application/json", true},
		{"page", "application/json", false},
		{"page", "", false},
		{"hold", browser, true},
		{"hold", "", true},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://"+testHost+"/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if got := hd.ShouldHold(r, controller.Host{Name: testHost, Wait: tc.wait}); got != tc.want {
			t.Errorf("wait %q, Accept %q: ShouldHold %v, want %v", tc.wait, tc.accept, got, tc.want)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := hold.New(hold.Options{}); err == nil {
		t.Error("New without a Controller succeeded")
	}
	if _, err := hold.New(hold.Options{Controller: &controller.Controller{}, MaxPerHost: -1}); err == nil {
		t.Error("New with a negative cap succeeded")
	}
}
