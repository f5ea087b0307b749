package browser

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestMappedHostReachesLoopback opens a mapped test host name and sees the
// Host header the browser sent; after the test no process of the profile
// is left.
func TestMappedHostReachesLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>t</title><h1 id=host>%s</h1>", r.Host)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	var dataDir string
	t.Run("browse", func(t *testing.T) {
		b := Start(t, MapHosts("app.test"))
		dataDir = b.DataDir
		tab := b.NewTab(t)
		url := "http://app.test:" + port + "/"
		if _, err := Run(tab, 30*time.Second, chromedp.Steps(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("host")))); err != nil {
			t.Fatalf("loading %s: %v", url, err)
		}
		got, err := Run(tab, 10*time.Second, chromedp.Text(chromedp.ID("host")))
		if err != nil {
			t.Fatal(err)
		}
		if want := "app.test:" + port; got != want {
			t.Fatalf("the server saw Host %q, want %q", got, want)
		}
	})
	if n := killProcessesWith([]byte("--user-data-dir=" + dataDir)); n != 0 {
		t.Fatalf("%d chromium processes outlived the test", n)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("profile %s still there: %v", dataDir, err)
	}
}
