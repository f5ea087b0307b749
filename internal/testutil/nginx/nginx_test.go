package nginx

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStartFailoverFallsBackWithTheOriginalHost runs the failover template
// with nothing listening on the backend: the request reaches the fallback
// with the Host the client sent, and nginx is gone after its cleanup.
func TestStartFailoverFallsBackWithTheOriginalHost(t *testing.T) {
	fallback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "fallback for %s", r.Host)
	}))
	defer fallback.Close()
	asleep, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := asleep.Addr().String()
	asleep.Close() // nothing listens: connections are refused

	var addr string
	t.Run("serve", func(t *testing.T) {
		s := StartFailover(t, Failover{
			ServerName: "app.test", Backend: backend,
			Waitingroom: strings.TrimPrefix(fallback.URL, "http://"),
		})
		addr = s.Addr
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr+"/", nil)
		req.Host = "app.test:8443"
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "fallback for app.test:8443" {
			t.Fatalf("got %d %q, want the fallback's 503 for app.test:8443", resp.StatusCode, body)
		}
		// nginx logs a request after its last byte is sent: the client may
		// read the answer first.
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.AccessLog(), "GET / "); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("access log has no request:\n%s", s.AccessLog())
			}
		}
	})
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("nginx still listens on %s after its test ended", addr)
	}
}
