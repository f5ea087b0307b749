package activity_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/activity"
	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/poll"
)

// needProcNet fails (in CI) or skips when the kernel's connection table is
// not readable: the connections source is Linux-only.
func needProcNet(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("/proc/net/tcp is not readable (%v): the connections source needs Linux procfs", err)
		}
		t.Skipf("/proc/net/tcp is not readable (%v): run on Linux to test the connections source", err)
	}
}

// holdingServer accepts TCP connections on loopback and keeps them open
// until the client closes them.
func holdingServer(t *testing.T) (port string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(io.Discard, c) // until the client closes
			}()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port
}

func dial(t *testing.T, port string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitBusy(t *testing.T, c *activity.Connections, h controller.Host, want bool) string {
	t.Helper()
	var why string
	poll.Until(t, 5*time.Second, fmt.Sprintf("busy=%v", want), func() bool {
		var busy bool
		busy, why = c.Busy(context.Background(), h, time.Now())
		return busy == want
	})
	return why
}

func TestConnectionsHeldOpenIsBusyClosedIsNot(t *testing.T) {
	needProcNet(t)
	port := holdingServer(t)
	conns := activity.NewConnections(activity.ConnectionsOptions{CacheFor: 100 * time.Millisecond, Logger: quietLogger()})
	h := testHost("ws.example.com", time.Minute, config.ActivityOptions{})
	h.ReadyURL = "http://127.0.0.1:" + port + "/healthz"

	if busy, why := conns.Busy(context.Background(), h, time.Now()); busy {
		t.Fatalf("busy before any connection: %q", why)
	}
	c1 := dial(t, port)
	if why := waitBusy(t, conns, h, true); why != "1 open connection to port "+port {
		t.Fatalf("why = %q", why)
	}
	c2 := dial(t, port)
	poll.Until(t, 5*time.Second, "two connections", func() bool {
		n, _, err := conns.Count(context.Background(), h)
		return err == nil && n == 2
	})
	c1.Close()
	c2.Close()
	waitBusy(t, conns, h, false)
}

func TestConnectionsBaselineIgnoresPermanentConnections(t *testing.T) {
	needProcNet(t)
	port := holdingServer(t)
	conns := activity.NewConnections(activity.ConnectionsOptions{CacheFor: 100 * time.Millisecond, Baseline: 1, Logger: quietLogger()})
	h := testHost("ws.example.com", time.Minute, config.ActivityOptions{})
	h.ReadyURL = "http://127.0.0.1:" + port + "/"
	dial(t, port) // a proxy's health-check connection, always open
	poll.Until(t, 5*time.Second, "one connection", func() bool {
		n, _, _ := conns.Count(context.Background(), h)
		return n == 1
	})
	if busy, why := conns.Busy(context.Background(), h, time.Now()); busy {
		t.Fatalf("busy at the baseline: %q", why)
	}
	dial(t, port)
	waitBusy(t, conns, h, true)
}

// pidProvider is a provider whose backends run in the given process's
// network namespace, as the Docker provider could report a container's.
type pidProvider struct {
	fake.Provider
	pid int
	err error
}

func (p *pidProvider) PID(context.Context, controller.Target) (int, error) { return p.pid, p.err }

var _ activity.PIDer = (*pidProvider)(nil)

func TestConnectionsRemoteBackendNeedsPIDer(t *testing.T) {
	needProcNet(t)
	port := holdingServer(t)
	dial(t, port)
	h := testHost("app.example.com", time.Minute, config.ActivityOptions{})
	h.Extra[config.ExtraTraefik] = config.TraefikOptions{URL: "http://app:" + port}

	plain := activity.NewConnections(activity.ConnectionsOptions{
		Logger:   quietLogger(),
		Provider: func(string) (controller.Provider, bool) { return &fake.Provider{}, true },
	})
	if _, _, err := plain.Count(context.Background(), h); !errors.Is(err, activity.ErrNotVisible) {
		t.Fatalf("Count on a non-local backend without PIDer: %v, want ErrNotVisible", err)
	}
	if busy, _ := plain.Busy(context.Background(), h, time.Now()); busy {
		t.Fatal("invisible backend reads as busy")
	}

	pid := os.Getpid()
	withPID := activity.NewConnections(activity.ConnectionsOptions{
		CacheFor: 100 * time.Millisecond, Logger: quietLogger(),
		Provider: func(string) (controller.Provider, bool) { return &pidProvider{pid: pid}, true },
	})
	why := waitBusy(t, withPID, h, true)
	if want := fmt.Sprintf("1 open connection to port %s in pid %d", port, pid); why != want {
		t.Fatalf("why = %q, want %q", why, want)
	}

	gone := activity.NewConnections(activity.ConnectionsOptions{
		Logger: quietLogger(),
		Provider: func(string) (controller.Provider, bool) {
			return &pidProvider{err: errors.New("container not running")}, true
		},
	})
	if busy, _ := gone.Busy(context.Background(), h, time.Now()); busy {
		t.Fatal("backend without a pid reads as busy")
	}
}

// The table parser, on fixed tables: only ESTABLISHED (01) sockets count,
// by local port, in tcp and tcp6; listeners and TIME_WAIT do not.
func TestConnectionsReadsProcTables(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:C351 06 00000000:00000000 03:00001000 00000000     0        0 0 3 0
   4: 0300A8C0:1F90 0100A8C0:D000 01 00000000:00000000 02:00000100 00000000     0        0 4 1 0 20 4 30 10 -1
`
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D001 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1
   1: garbage
`
	for name, body := range map[string]string{"tcp": tcp, "tcp6": tcp6} {
		if err := os.WriteFile(filepath.Join(root, "net", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conns := activity.NewConnections(activity.ConnectionsOptions{ProcRoot: root, Logger: quietLogger()})
	h := testHost("app.example.com", time.Minute, config.ActivityOptions{})
	h.ReadyURL = "http://127.0.0.1:8080/" // 0x1F90
	busy, why := conns.Busy(context.Background(), h, time.Now())
	if !busy || why != "3 open connections to port 8080" {
		t.Fatalf("Busy = %v %q, want 3 open connections to port 8080", busy, why)
	}
	h.ReadyURL = "http://localhost/" // port 80: nothing
	if busy, why := conns.Busy(context.Background(), h, time.Now()); busy {
		t.Fatalf("port 80 busy: %q", why)
	}
}

// A streaming response lasting far longer than the idle timeout keeps the
// host awake until the stream ends; then the sweep stops it.
func TestStreamLongerThanIdleTimeoutKeepsHostAwake(t *testing.T) {
	needProcNet(t)
	endStream := make(chan struct{})
	streaming := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		close(streaming)
		select {
		case <-endStream:
		case <-r.Context().Done():
		}
	})
	backend := httptest.NewServer(mux)
	t.Cleanup(backend.Close)
	t.Cleanup(func() {
		select {
		case <-endStream:
		default:
			close(endStream)
		}
	})

	clock := fake.NewClock(time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC))
	conns := activity.NewConnections(activity.ConnectionsOptions{CacheFor: 100 * time.Millisecond, Logger: quietLogger()})
	h := testHost("sse.example.com", time.Minute, config.ActivityOptions{})
	h.ReadyURL = backend.URL + "/healthz"
	e := newEnv(t, clock, []controller.BusyChecker{conns}, h)
	wakeAndWait(t, e, h.Name)

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	done := make(chan error, 1)
	go func() {
		resp, err := client.Get(backend.URL + "/events")
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(io.Discard, resp.Body) // until the stream ends
		resp.Body.Close()
		done <- err
	}()
	select {
	case <-streaming:
	case err := <-done:
		t.Fatalf("stream ended early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not start within 5s")
	}
	waitBusy(t, conns, h, true)

	// Half an hour of a 1-minute idle timeout, swept every minute.
	for range 30 {
		clock.Advance(time.Minute)
		if sweep(t, e, h.Name) {
			t.Fatalf("stopped mid-stream at %s", clock.Now())
		}
	}
	close(endStream)
	if err := <-done; err != nil {
		t.Fatalf("stream: %v", err)
	}
	poll.Until(t, 5*time.Second, "stop after the stream ended", func() bool { return sweep(t, e, h.Name) })
	waitState(t, e, h.Name, controller.StateStopped)
	if !strings.HasPrefix(h.ReadyURL, "http://127.0.0.1:") {
		t.Fatalf("test server is not on loopback: %s", h.ReadyURL)
	}
}

// unwrapper decorates a provider as metrics.WrapProvider does: only the
// Provider methods and Unwrap.
type unwrapper struct{ p controller.Provider }

func (u unwrapper) Start(ctx context.Context, t controller.Target) error { return u.p.Start(ctx, t) }
func (u unwrapper) Stop(ctx context.Context, t controller.Target) error  { return u.p.Stop(ctx, t) }
func (u unwrapper) Status(ctx context.Context, t controller.Target) (controller.Status, error) {
	return u.p.Status(ctx, t)
}
func (u unwrapper) Unwrap() controller.Provider { return u.p }

// A PIDer behind decorators is still found, so the registry's (wrapped)
// providers serve and no unwrapped copy has to be kept beside them.
func TestConnectionsSeePIDerThroughDecorators(t *testing.T) {
	needProcNet(t)
	port := holdingServer(t)
	dial(t, port)
	h := testHost("app.example.com", time.Minute, config.ActivityOptions{})
	h.Extra[config.ExtraTraefik] = config.TraefikOptions{URL: "http://app:" + port}
	pid := os.Getpid()
	tests := []struct {
		name string
		p    controller.Provider
	}{
		{"one decorator", unwrapper{&pidProvider{pid: pid}}},
		{"two decorators", unwrapper{unwrapper{&pidProvider{pid: pid}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := activity.NewConnections(activity.ConnectionsOptions{
				CacheFor: 100 * time.Millisecond, Logger: quietLogger(),
				Provider: func(string) (controller.Provider, bool) { return tt.p, true },
			})
			waitBusy(t, c, h, true)
		})
	}
}
