package traefik

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// nginxBinary finds nginx: missing in CI fails, elsewhere skips with how to
// install it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err == nil {
		return path
	}
	for _, p := range []string{"/usr/sbin/nginx", "/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "nginx not found: install it with `apt-get install -y nginx-light` (scripts/test does this)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// serveOn serves h on addr until the test ends.
func serveOn(t *testing.T, addr string, h http.Handler) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

type nginxConf struct {
	Prefix, Listen, ServerName, Backend, Waitingroom, TouchURL string
}

// startNginx renders examples/nginx.conf.tmpl and runs nginx until the test
// ends.
func startNginx(t *testing.T, c nginxConf) {
	t.Helper()
	bin := nginxBinary(t)
	tmpl, err := template.ParseFiles(filepath.Join("examples", "nginx.conf.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	c.Prefix = t.TempDir()
	conf := filepath.Join(c.Prefix, "nginx.conf")
	f, err := os.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := tmpl.Execute(f, c); err != nil {
		t.Fatal(err)
	}
	f.Close()
	errLog := filepath.Join(c.Prefix, "error.log")
	if out, err := exec.Command(bin, "-t", "-p", c.Prefix, "-e", errLog, "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", c.Prefix, "-e", errLog, "-c", conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM is nginx's fast shutdown; the master takes its worker down.
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(errLog)
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	poll.Until(t, 5*time.Second, "nginx to listen on "+c.Listen, func() bool {
		conn, err := net.DialTimeout("tcp", c.Listen, 100*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

// TestNginxTemplateFailsOverLikeTraefik checks the nginx configuration drafted
// for the end-to-end journey: the backend first, waitingroom for refused
// connections and 502–504 with the original Host, method and body, and the
// touch endpoint called on every request.
func TestNginxTemplateFailsOverLikeTraefik(t *testing.T) {
	const host = "app.example.com"
	rec := &recorder{}
	fa := NewForwardAuth(rec, ForwardAuthOptions{Known: func(h string) bool { return h == host }, Window: time.Hour})
	runForwardAuth(t, fa)

	var mu sync.Mutex
	var seen []string // "METHOD host body" of requests waitingroom got
	wrMux := http.NewServeMux()
	wrMux.Handle(TouchPath, fa)
	wrMux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s %s", r.Method, r.Host, body))
		mu.Unlock()
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "waiting room for %s", r.Host)
	})
	waitingroom := freeAddr(t)
	serveOn(t, waitingroom, wrMux)

	backend := freeAddr(t) // asleep: nothing listens yet
	proxy := freeAddr(t)
	startNginx(t, nginxConf{
		Listen: proxy, ServerName: host, Backend: backend, Waitingroom: waitingroom,
		TouchURL: "http://" + waitingroom + TouchPath,
	})

	client := &http.Client{Timeout: 5 * time.Second}
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), method, "http://"+proxy+path, strings.NewReader(body))
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := do(http.MethodGet, "/", ""); code != http.StatusServiceUnavailable || body != "waiting room for "+host {
		t.Fatalf("asleep: got %d %q, want the waiting room's 503 for %s", code, body, host)
	}
	if code, _ := do(http.MethodPost, "/form", "name=x"); code != http.StatusServiceUnavailable {
		t.Fatalf("asleep POST: got %d, want 503", code)
	}
	mu.Lock()
	if !slices.Contains(seen, "POST "+host+" name=x") {
		t.Errorf("waitingroom saw %q; want the POST replayed with its Host and body", seen)
	}
	mu.Unlock()
	poll.Until(t, 5*time.Second, "a touch through auth_request", func() bool { return len(rec.all()) > 0 })
	if got := rec.all()[0]; got != (touch{host, SourceForwardAuth}) {
		t.Errorf("touched %v", got)
	}

	// The backend wakes up: the very next request reaches it.
	serveOn(t, backend, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/broken":
			w.WriteHeader(http.StatusBadGateway)
			return
		case "/maintenance":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "the app's own maintenance page")
			return
		}
		fmt.Fprintf(w, "backend for %s", r.Host)
	}))
	if code, body := do(http.MethodGet, "/", ""); code != http.StatusOK || body != "backend for "+host {
		t.Fatalf("awake: got %d %q, want the backend's 200 for %s", code, body, host)
	}
	// A 502 from the backend itself goes to the waiting room, as with
	// failover.errors.
	if code, body := do(http.MethodGet, "/broken", ""); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "waiting room") {
		t.Fatalf("backend 502: got %d %q, want the waiting room", code, body)
	}
	// The app's own 503 reaches the user; a POST the app answered with 502
	// is never sent to the waiting room (it would be sent twice).
	if code, body := do(http.MethodGet, "/maintenance", ""); code != http.StatusServiceUnavailable || body != "the app's own maintenance page" {
		t.Errorf("the app's own 503: got %d %q, want it untouched", code, body)
	}
	mu.Lock()
	before := len(seen)
	mu.Unlock()
	if code, _ := do(http.MethodPost, "/broken", "pay=1"); code != http.StatusBadGateway {
		t.Errorf("a POST the app answered with 502: got %d, want the app's 502", code)
	}
	mu.Lock()
	if len(seen) != before {
		t.Errorf("waitingroom got %q after the app answered the POST: it was replayed", seen[before:])
	}
	mu.Unlock()
}
