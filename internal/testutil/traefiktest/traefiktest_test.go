package traefiktest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
