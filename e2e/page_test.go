package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

// page.status: the built binary answers the waiting page, its HEAD and its
// JSON with the configured status, Retry-After still set; `validate`
// refuses other codes at their line.
func TestPageStatusIsConfigurable(t *testing.T) {
	d := newDemoHost(t, "app.test", 10*time.Second, "1m")
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+"defaults:\n  wait: page\npage:\n  status: 202\nhosts:"+d.yaml())
	ctx := context.Background()

	for _, tc := range []struct{ name, method, accept string }{
		{"page", http.MethodGet, "text/html"},
		{"HEAD", http.MethodHead, "text/html"},
		{"JSON", http.MethodGet, "application/json"},
	} {
		req, _ := http.NewRequestWithContext(ctx, tc.method, w.Public+"/", nil)
		req.Host = "app.test"
		req.Header.Set("Accept", tc.accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("%s: status %d, want 202; body:\n%s", tc.name, resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tc.name)
		}
		if got := resp.Header.Get("X-Waitingroom-State"); got != "starting" {
			t.Errorf("%s: X-Waitingroom-State %q, want starting", tc.name, got)
		}
	}

	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("page:\n  status: 302\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := proc.Start(t, bins.Waitingroom, "validate", "--config", path)
	code, err := p.Wait(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ":2: page.status 302"; code != 1 || !strings.Contains(p.Output(), want) {
		t.Errorf("validate: exit %d, want 1 and %q in:\n%s", code, want, p.Output())
	}
}
