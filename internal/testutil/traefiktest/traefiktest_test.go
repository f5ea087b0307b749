package traefiktest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/poll"
	"github.com/waitingroom/waitingroom/internal/testutil/ports"
	"github.com/waitingroom/waitingroom/internal/testutil/traefiktest"
)

func TestStartRoutesThroughTheFileProviderAndLogsEveryAnswer(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.Host)
	}))
	t.Cleanup(backend.Close)
	tr := traefiktest.Start(t, traefiktest.Options{File: `http:
  routers:
    app:
      rule: Host(` + "`app.test`" + `)
      service: app
  services:
    app:
      loadBalancer:
        servers: [{url: "` + backend.URL + `"}]
`})
	tr.WaitRouters(t, 20*time.Second, "app")
	req, _ := http.NewRequest(http.MethodGet, "http://"+tr.Addr+"/x", nil)
	req.Host = "app.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "hello app.test" {
		t.Fatalf("through Traefik: %d %q", resp.StatusCode, b)
	}
	var log []traefiktest.Access
	deadline := time.Now().Add(10 * time.Second)
	for len(log) == 0 && time.Now().Before(deadline) {
		if log, err = tr.AccessLog(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(log) != 1 || log[0].Status != http.StatusOK || log[0].Host != "app.test" || log[0].Path != "/x" {
		t.Errorf("access log %+v, want the one request", log)
	}
	if rss, err := tr.RSS(); err != nil || rss < 1<<20 {
		t.Errorf("RSS %d, %v", rss, err)
	}
}

// TestHealthCheckFailuresAreReadFromTheLog: a backend whose port nobody
// listens on fails Traefik's active health check, and the failure is read
// back with the provider-qualified service name and the server's URL.
func TestHealthCheckFailuresAreReadFromTheLog(t *testing.T) {
	port, err := ports.Free()
	if err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("http://127.0.0.1:%d", port)
	tr := traefiktest.Start(t, traefiktest.Options{File: `http:
  routers:
    dead:
      rule: Host(` + "`dead.test`" + `)
      service: dead-backend
  services:
    dead-backend:
      loadBalancer:
        servers: [{url: "` + dead + `"}]
        healthCheck: {path: /, interval: 200ms, timeout: 1s}
`})
	before := time.Now().Add(-time.Second)
	var got []traefiktest.HealthCheckFailure
	poll.Until(t, 20*time.Second, "a failed health check in Traefik's log", func() bool {
		got = tr.HealthCheckFailures()
		return len(got) > 0
	})
	f := got[0]
	if f.Service != "dead-backend@file" || f.URL != dead || f.At.Before(before.Truncate(time.Second)) || f.At.After(time.Now()) {
		t.Errorf("health check failure read as %+v; want service dead-backend@file, URL %s, at about now", f, dead)
	}
}
