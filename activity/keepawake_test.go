package activity_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/activity"
	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// jobEndpoint answers 200 while a job runs and 404 once it is
// done, like a backend's /busy endpoint.
type jobEndpoint struct {
	mu     sync.Mutex
	status int
	delay  time.Duration
	hits   atomic.Int32
}

func (j *jobEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	j.hits.Add(1)
	j.mu.Lock()
	status, delay := j.status, j.delay
	j.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.WriteHeader(status)
}

func (j *jobEndpoint) set(status int) {
	j.mu.Lock()
	j.status = status
	j.mu.Unlock()
}

func TestKeepAwakeWhileURLAnswers2xx(t *testing.T) {
	job := &jobEndpoint{status: http.StatusOK}
	srv := httptest.NewServer(job)
	t.Cleanup(srv.Close)

	now := time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC)
	cacheClock := fake.NewClock(now)
	ka := activity.NewKeepAwake(activity.KeepAwakeOptions{CacheFor: 5 * time.Second, Now: cacheClock.Now, Logger: quietLogger()})
	h := testHost("app.example.com", time.Minute, config.ActivityOptions{KeepAwakeWhile: srv.URL + "/busy"})

	busy, why := ka.Busy(context.Background(), h, now)
	if !busy || why != "keep_awake_while answered 200" {
		t.Fatalf("Busy = %v %q, want busy: keep_awake_while answered 200", busy, why)
	}
	// Within CacheFor the answer is reused: one probe.
	job.set(http.StatusNotFound)
	if busy, _ := ka.Busy(context.Background(), h, now); !busy || job.hits.Load() != 1 {
		t.Fatalf("cached answer: busy %v after %d probes, want busy after 1", busy, job.hits.Load())
	}
	cacheClock.Advance(5 * time.Second)
	if busy, why := ka.Busy(context.Background(), h, now); busy {
		t.Fatalf("404 reads as busy: %q", why)
	}
	if job.hits.Load() != 2 {
		t.Fatalf("%d probes, want 2", job.hits.Load())
	}
	// A host without keep_awake_while is never probed.
	if busy, _ := ka.Busy(context.Background(), testHost("b.example.com", time.Minute, config.ActivityOptions{}), now); busy {
		t.Fatal("host without keep_awake_while is busy")
	}
}

func TestKeepAwakeProbeFailuresAreNotBusy(t *testing.T) {
	slow := &jobEndpoint{status: http.StatusOK, delay: 5 * time.Second}
	slowSrv := httptest.NewServer(slow)
	t.Cleanup(slowSrv.Close)
	redirect := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	t.Cleanup(redirect.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	cases := []struct{ name, url string }{
		{"times out", slowSrv.URL},
		{"redirects", redirect.URL},
		{"refuses connections", downURL},
		{"unfilled placeholder", "http://{internal_ip}:9/busy"},
	}
	ka := activity.NewKeepAwake(activity.KeepAwakeOptions{Timeout: 200 * time.Millisecond, Logger: quietLogger()})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := testHost("app.example.com", time.Minute, config.ActivityOptions{KeepAwakeWhile: c.url})
			start := time.Now()
			if busy, why := ka.Busy(context.Background(), h, start); busy {
				t.Fatalf("busy: %q", why)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("probe took %s despite a 200ms timeout", d)
			}
		})
	}
}

func TestKeepAwakeFillsInternalIP(t *testing.T) {
	job := &jobEndpoint{status: http.StatusNoContent}
	srv := httptest.NewServer(job)
	t.Cleanup(srv.Close)
	_, port, _ := splitHostPort(t, srv.URL)
	ka := activity.NewKeepAwake(activity.KeepAwakeOptions{
		Logger: quietLogger(),
		Status: func(string) (controller.Status, bool) { return controller.Status{InternalIP: "127.0.0.1"}, true },
	})
	h := testHost("app.example.com", time.Minute, config.ActivityOptions{KeepAwakeWhile: "http://{internal_ip}:" + port + "/busy"})
	if busy, why := ka.Busy(context.Background(), h, time.Now()); !busy || why != "keep_awake_while answered 204" {
		t.Fatalf("Busy = %v %q", busy, why)
	}
}

// With keep_awake_while answering 200 the sweep leaves an idle host
// running; once it answers 404 the host stops.
func TestKeepAwakeHoldsHostThroughSweep(t *testing.T) {
	job := &jobEndpoint{status: http.StatusOK}
	srv := httptest.NewServer(job)
	t.Cleanup(srv.Close)
	clock := fake.NewClock(time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC))
	ka := activity.NewKeepAwake(activity.KeepAwakeOptions{CacheFor: time.Nanosecond, Logger: quietLogger()})
	h := testHost("app.example.com", time.Minute, config.ActivityOptions{KeepAwakeWhile: srv.URL})
	e := newEnv(t, clock, []controller.BusyChecker{ka}, h)
	wakeAndWait(t, e, h.Name)
	clock.Advance(10 * time.Minute)
	if sweep(t, e, h.Name) {
		t.Fatal("stopped while keep_awake_while answered 200")
	}
	job.set(http.StatusNotFound)
	poll.Until(t, 2*time.Second, "stop once keep_awake_while answers 404", func() bool { return sweep(t, e, h.Name) })
}
