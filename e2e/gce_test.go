package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
	"github.com/waitingroom/waitingroom/providers/gce/gcetest"
)

// vmApp is the "application" on the fake VM: a real HTTP server that runs
// while the instance is RUNNING.
type vmApp struct {
	t    *testing.T
	port int
	mu   sync.Mutex
	srv  *http.Server
}

func (v *vmApp) up(string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", v.port))
	if err != nil {
		v.t.Errorf("vm app listen: %v", err)
		return
	}
	v.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the VM\n")
	})}
	go v.srv.Serve(ln)
}

func (v *vmApp) down(string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.srv != nil {
		v.srv.Close()
		v.srv = nil
	}
}

// The waitingroom binary wakes a GCE VM through the real compute client
// talking to a local server that speaks the GCE REST API; the VM's app
// answers on the VM's (live) internal address.
func TestGCEWakeThroughBinary(t *testing.T) {
	app := &vmApp{t: t, port: proc.FreePort(t)}
	t.Cleanup(func() { app.down("") })
	api := gcetest.NewServer(t, gcetest.WithStepDelay(100*time.Millisecond),
		gcetest.WithAddresses(func(string, int) (string, string) { return "127.0.0.1", "127.0.0.2" }),
		gcetest.WithOnRunning(app.up), gcetest.WithOnStopped(app.down))
	api.AddInstance(gcetest.Instance{Project: "demo-project", Zone: "europe-west1-b", Name: "web-1", Status: gcetest.StatusTerminated})

	cfg := fmt.Sprintf(`
listen: "%%PUBLIC%%"
admin:
  listen: "%%ADMIN%%"
scheduler:
  sweep_interval: 500ms
providers:
  gce:
    project: demo-project
    endpoint: %s
hosts:
  - host: vm.test
    provider: gce
    zone: europe-west1-b
    instance: web-1
    ready_url: http://{internal_ip}:%d/
    idle_timeout: 3s
    start_timeout: 30s
`, api.URL, app.port)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)

	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := w.Get(context.Background(), "vm.test", "/", "Accept", "text/html")
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("status %d, want 503", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	proc.Eventually(t, 30*time.Second, func() bool { return status(t, w, "vm.test") == "running" }, "VM never running")
	if n := api.Count(gcetest.MethodStart); n != 1 {
		t.Fatalf("start requests at the GCE API: %d, want 1", n)
	}
	// The Traefik HTTP provider endpoint carries the VM's live address.
	resp, err := http.Get(w.Admin + "/api/traefik")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("http://127.0.0.1:%d", app.port); !strings.Contains(string(body), want) {
		t.Errorf("/api/traefik lacks the live backend %s:\n%s", want, body)
	}
	proc.Eventually(t, 30*time.Second, func() bool { return status(t, w, "vm.test") == "stopped" }, "idle VM never stopped")
	inst, _ := api.Instance("demo-project", "europe-west1-b", "web-1")
	if inst.Status != gcetest.StatusTerminated {
		t.Fatalf("VM status %s after the idle stop, want TERMINATED", inst.Status)
	}
}
