package webhook_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/store/memory"
	"github.com/waitingroom/waitingroom/webhook"
)

var secret = []byte("receiver-shared-secret")

// verify is what a receiver does: the signature over the raw body,
// compared in constant time.
func verify(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(webhook.Sign(secret, body)), []byte(header))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// received is one request a receiver got.
type received struct {
	header  http.Header
	body    []byte
	payload webhook.Payload
}

// receiver is a local webhook endpoint that records what it gets and
// answers with status (200 unless set).
type receiver struct {
	srv    *httptest.Server
	status atomic.Int32
	hang   chan struct{} // when set, requests block until it is closed
	mu     sync.Mutex
	got    []received
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p webhook.Payload
		_ = json.Unmarshal(body, &p)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body, payload: p})
		hang := rc.hang
		rc.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		if s := rc.status.Load(); s != 0 {
			w.WriteHeader(int(s))
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// hangUntilCleanup makes every request block until the test ends.
func (rc *receiver) hangUntilCleanup(t *testing.T) {
	hang := make(chan struct{})
	rc.mu.Lock()
	rc.hang = hang
	rc.mu.Unlock()
	t.Cleanup(func() { close(hang) })
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func run(t *testing.T, n *webhook.Notifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
}

func newNotifier(t *testing.T, o webhook.Options) *webhook.Notifier {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet()
	}
	n, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Wakes of a real controller reach a local receiver as wake_requested
// then running, each signed with the shared secret.
func TestWebhooksFromRealWakeAreSigned(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, webhook.Options{Targets: []webhook.Target{{URL: rc.srv.URL + "/hook", Secret: secret}}})
	run(t, n)

	ctrl, _ := newController(t, n.Notify)
	if _, err := ctrl.Wake(context.Background(), "app.example.com", controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "two deliveries", func() bool { return len(rc.requests()) == 2 })

	got := rc.requests()
	for i, want := range []string{webhook.KindWakeRequested, webhook.KindRunning} {
		r := got[i]
		if !verify(secret, r.body, r.header.Get(webhook.HeaderSignature)) {
			t.Fatalf("delivery %d: signature %q does not verify", i, r.header.Get(webhook.HeaderSignature))
		}
		if !strings.HasPrefix(r.header.Get(webhook.HeaderSignature), "sha256=") {
			t.Fatalf("signature header %q lacks sha256=", r.header.Get(webhook.HeaderSignature))
		}
		if verify([]byte("another secret"), r.body, r.header.Get(webhook.HeaderSignature)) {
			t.Fatal("signature verifies with the wrong secret")
		}
		p := r.payload
		if p.Event != want || r.header.Get(webhook.HeaderEvent) != want || p.Host != "app.example.com" || p.At.IsZero() ||
			p.ID == "" || r.header.Get(webhook.HeaderDelivery) != p.ID {
			t.Fatalf("delivery %d: %+v headers %v, want event %s", i, p, r.header, want)
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("content type %q", r.header.Get("Content-Type"))
		}
	}
	if p := got[0].payload; p.From != "stopped" || p.To != "starting" || !strings.Contains(p.Reason, "wake requested") {
		t.Fatalf("wake_requested payload %+v", p)
	}
	if p := got[1].payload; p.From != "starting" || p.To != "running" || p.DurationMS < 0 {
		t.Fatalf("running payload %+v", p)
	}
	var raw map[string]any
	if err := json.Unmarshal(got[1].body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "event", "host", "from", "to", "at"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("payload %s lacks %q", got[1].body, k)
		}
	}
}

// newController is a real controller on the memory store whose provider
// starts at once, with onEvent as its OnEvent hook.
func newController(t *testing.T, onEvent func(controller.Event)) (*controller.Controller, *fake.Provider) {
	t.Helper()
	prov := &fake.Provider{}
	reg := controller.NewRegistry([]controller.Host{{
		Name: "app.example.com", Provider: "p", IdleTimeout: time.Minute, StartTimeout: 10 * time.Second,
		Target: controller.Target{Host: "app.example.com", Provider: "p"},
	}}, map[string]controller.Provider{"p": prov})
	st := memory.New(nil)
	t.Cleanup(func() { _ = st.Close() })
	ctrl := controller.New(controller.Options{Store: st, Registry: reg, Logger: quiet(), OnEvent: onEvent})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctrl.Shutdown(ctx)
	})
	// Boot: the host is found stopped (from unknown: no webhook).
	if err := ctrl.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ctrl, prov
}

// A receiver that hangs does not delay the wake: the host runs while the
// webhook is still waiting for its receiver, and Notify itself returns at
// once.
func TestHangingReceiverDoesNotDelayWake(t *testing.T) {
	rc := newReceiver(t)
	rc.hangUntilCleanup(t)
	n := newNotifier(t, webhook.Options{Targets: []webhook.Target{{URL: rc.srv.URL, Timeout: 30 * time.Second, Retries: 3}}})
	run(t, n)

	var slowest atomic.Int64
	ctrl, _ := newController(t, func(e controller.Event) {
		start := time.Now()
		n.Notify(e)
		if d := int64(time.Since(start)); d > slowest.Load() {
			slowest.Store(d)
		}
	})
	start := time.Now()
	if _, err := ctrl.Wake(context.Background(), "app.example.com", controller.Client{Source: "page"}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "host running", func() bool {
		_, rec, _ := ctrl.Status(context.Background(), "app.example.com")
		return rec.State == controller.StateRunning
	})
	t.Logf("wake to running with a hanging receiver: %s; slowest Notify: %s", time.Since(start), time.Duration(slowest.Load()))
	poll.Until(t, 5*time.Second, "the first delivery reaches the receiver", func() bool { return len(rc.requests()) >= 1 })
	if st := n.Stats(); st.Delivered != 0 || st.Failed != 0 || len(rc.requests()) != 1 {
		t.Fatalf("stats %+v, %d requests: the first delivery should still be hanging", st, len(rc.requests()))
	}
}

// A receiver that is down is retried a bounded number of times, with
// backoff, and then given up; Notify never blocks meanwhile.
func TestDownReceiverIsRetriedBoundedTimes(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		retries  int
		attempts int
	}{
		{"503 is retried", http.StatusServiceUnavailable, 3, 4},
		{"500 is retried", http.StatusInternalServerError, 2, 3},
		{"429 is retried", http.StatusTooManyRequests, 1, 2},
		{"400 is final", http.StatusBadRequest, 3, 1},
		{"no retries", http.StatusBadGateway, webhook.NoRetries, 1},
		{"default retries", http.StatusBadGateway, 0, webhook.DefaultRetries + 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.status.Store(int32(c.status))
			n := newNotifier(t, webhook.Options{
				Targets:     []webhook.Target{{URL: rc.srv.URL, Retries: c.retries}},
				BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond,
			})
			run(t, n)
			n.Notify(controller.Event{Host: "app.example.com", From: controller.StateRunning, To: controller.StateStopped, At: time.Now()})
			poll.Until(t, 5*time.Second, "given up", func() bool { return n.Stats().Failed == 1 })
			if got := len(rc.requests()); got != c.attempts {
				t.Fatalf("%d attempts, want %d", got, c.attempts)
			}
			ids := map[string]bool{}
			for _, r := range rc.requests() {
				ids[r.header.Get(webhook.HeaderDelivery)] = true
			}
			if len(ids) != 1 {
				t.Fatalf("retries carry %d delivery ids, want 1", len(ids))
			}
			if st := n.Stats(); st.Retried != uint64(c.attempts-1) || st.Delivered != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// Connection refused: the receiver process is gone altogether.
func TestUnreachableReceiverGivesUp(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	n := newNotifier(t, webhook.Options{
		Targets:     []webhook.Target{{URL: deadURL, Retries: 2}},
		BackoffBase: 5 * time.Millisecond, BackoffMax: 10 * time.Millisecond,
	})
	run(t, n)
	n.Notify(controller.Event{Host: "app.example.com", From: controller.StateStarting, To: controller.StateFailed, At: time.Now()})
	poll.Until(t, 5*time.Second, "given up", func() bool { return n.Stats().Failed == 1 })
	if st := n.Stats(); st.Retried != 2 {
		t.Fatalf("stats %+v, want 2 retries", st)
	}
}

// With the worker stuck on a hanging receiver, the queue fills and further
// events are dropped and counted; Notify never waits.
func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	rc := newReceiver(t)
	rc.hangUntilCleanup(t)
	n := newNotifier(t, webhook.Options{Targets: []webhook.Target{{URL: rc.srv.URL, Timeout: 30 * time.Second}}, QueueSize: 2})
	run(t, n)
	e := controller.Event{Host: "app.example.com", From: controller.StateRunning, To: controller.StateStopped, At: time.Now()}
	n.Notify(e)
	poll.Until(t, 5*time.Second, "worker busy with the first event", func() bool { return len(rc.requests()) == 1 })
	var slowest time.Duration
	for range 100 {
		start := time.Now()
		n.Notify(e)
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("slowest of 100 Notify calls with a full queue: %s", slowest)
	if st := n.Stats(); st.Queued != 3 || st.Dropped != 98 {
		t.Fatalf("stats %+v, want 3 queued (1 in flight + 2) and 98 dropped", st)
	}
}

func TestEventFilterAndKinds(t *testing.T) {
	all := newReceiver(t)
	stopsOnly := newReceiver(t)
	n := newNotifier(t, webhook.Options{Targets: []webhook.Target{
		{URL: all.srv.URL},
		{URL: stopsOnly.srv.URL, Events: []string{webhook.KindStopped}},
	}})
	run(t, n)
	at := time.Now()
	for _, e := range []controller.Event{
		{Host: "a", From: controller.StateUnknown, To: controller.StateStopped, At: at},  // boot: none
		{Host: "a", From: controller.StateRunning, To: controller.StateStopping, At: at}, // none
		{Host: "a", From: controller.StateStopping, To: controller.StateStopped, At: at}, // stopped
		{Host: "a", From: controller.StateStarting, To: controller.StateFailed, At: at},  // failed
		{Host: "a", From: controller.StateStopped, To: controller.StateStarting, At: at}, // wake_requested
		{Host: "a", From: controller.StateStarting, To: controller.StateRunning, At: at, Duration: 1500 * time.Millisecond},
	} {
		n.Notify(e)
	}
	poll.Until(t, 5*time.Second, "deliveries", func() bool { return len(all.requests()) == 4 && len(stopsOnly.requests()) == 1 })
	var kinds []string
	for _, r := range all.requests() {
		kinds = append(kinds, r.payload.Event)
	}
	if got := strings.Join(kinds, ","); got != "stopped,failed,wake_requested,running" {
		t.Fatalf("kinds %s", got)
	}
	if d := all.requests()[3].payload.DurationMS; d != 1500 {
		t.Fatalf("duration_ms %d, want 1500", d)
	}
	if r := stopsOnly.requests()[0]; r.payload.Event != webhook.KindStopped || r.header.Get(webhook.HeaderSignature) != "" {
		t.Fatalf("filtered target got %+v, signature %q (no secret: unsigned)", r.payload, r.header.Get(webhook.HeaderSignature))
	}
}

// A crowd refused by one budget makes one event per BudgetRepeat.
func TestBudgetEventsAreSuppressedWhileRepeating(t *testing.T) {
	rc := newReceiver(t)
	var mu sync.Mutex
	now := time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	n := newNotifier(t, webhook.Options{
		Targets: []webhook.Target{{URL: rc.srv.URL, Secret: secret}}, BudgetRepeat: 10 * time.Minute, Now: clock,
	})
	run(t, n)
	cl := controller.Client{Class: "browser", Source: "page"}
	for range 50 {
		n.NotifyBudget("app.example.com", cl, "host per day")
	}
	n.NotifyBudget("other.example.com", cl, "host per day")
	mu.Lock()
	now = now.Add(10 * time.Minute)
	mu.Unlock()
	n.NotifyBudget("app.example.com", cl, "host per day")
	poll.Until(t, 5*time.Second, "three budget events", func() bool { return len(rc.requests()) == 3 })
	if st := n.Stats(); st.Suppressed != 49 {
		t.Fatalf("stats %+v, want 49 suppressed", st)
	}
	p := rc.requests()[0].payload
	if p.Event != webhook.KindBudgetExhausted || p.Budget != "host per day" || p.ClientClass != "browser" || p.Host != "app.example.com" {
		t.Fatalf("payload %+v", p)
	}
}

func TestNewRejectsBadTargets(t *testing.T) {
	cases := []struct {
		name string
		t    webhook.Target
		want string
	}{
		{"no scheme", webhook.Target{URL: "hooks.example.com/x"}, "http(s)://"},
		{"ftp", webhook.Target{URL: "ftp://hooks.example.com/x"}, "http(s)://"},
		{"unknown event", webhook.Target{URL: "https://hooks.example.com/x", Events: []string{"woke"}}, `unknown event "woke"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := webhook.New(webhook.Options{Targets: []webhook.Target{c.t}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := webhook.ReadSecret(file, ""); err != nil || string(s) != "s3cret" {
		t.Fatalf("file: %q %v", s, err)
	}
	t.Setenv("WR_TEST_WEBHOOK_SECRET", "from-env")
	if s, err := webhook.ReadSecret("", "WR_TEST_WEBHOOK_SECRET"); err != nil || string(s) != "from-env" {
		t.Fatalf("env: %q %v", s, err)
	}
	if _, err := webhook.ReadSecret(filepath.Join(dir, "missing"), ""); err == nil {
		t.Fatal("missing file: no error")
	}
	if _, err := webhook.ReadSecret("", "WR_TEST_WEBHOOK_UNSET"); err == nil {
		t.Fatal("unset env: no error")
	}
	if s, err := webhook.ReadSecret("", ""); err != nil || s != nil {
		t.Fatalf("none: %q %v", s, err)
	}
}

func TestRunTwiceIsAnError(t *testing.T) {
	n := newNotifier(t, webhook.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Run(ctx); err == nil {
		t.Fatal("second Run succeeded")
	}
}

type refuseGate struct{}

func (refuseGate) AllowWake(context.Context, controller.Host, controller.Client) error {
	return &controller.BudgetError{Budget: "host per day", RetryAfter: time.Hour}
}

// A wake refused by a budget, through the controller's gate, sends one
// budget_exhausted event with the client's class.
func TestWrapGateSendsBudgetExhausted(t *testing.T) {
	rc := newReceiver(t)
	n := newNotifier(t, webhook.Options{Targets: []webhook.Target{{URL: rc.srv.URL, Events: []string{webhook.KindBudgetExhausted}}}})
	run(t, n)
	gate := n.WrapGate(refuseGate{})
	err := gate.AllowWake(context.Background(), controller.Host{Name: "app.example.com"}, controller.Client{Class: "api"})
	if !errors.Is(err, controller.ErrBudgetExceeded) {
		t.Fatalf("gate error %v, want the inner budget error", err)
	}
	poll.Until(t, 5*time.Second, "budget event", func() bool { return len(rc.requests()) == 1 })
	if p := rc.requests()[0].payload; p.Budget != "host per day" || p.ClientClass != "api" || p.Host != "app.example.com" {
		t.Fatalf("payload %+v", p)
	}
	if err := n.WrapGate(nil).AllowWake(context.Background(), controller.Host{}, controller.Client{}); err != nil {
		t.Fatalf("nil inner gate: %v", err)
	}
}
