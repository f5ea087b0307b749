package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

// An API client (no text/html in Accept) on a sleeping host is held while
// the backend wakes, then gets the backend's real answer to its own POST.
func TestHeldAPIClientsGetTheRealAnswer(t *testing.T) {
	d := newDemoHost(t, "api.test", time.Second, "1m")
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+"hosts:"+d.yaml())
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"n":%d}`, i)
			req, _ := http.NewRequest(http.MethodPost, w.Public+"/webhook", bytes.NewBufferString(body))
			req.Host = "api.test"
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", "stripe-webhooks/1.0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("held request: %v", err)
				return
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(got) != body {
				t.Errorf("held request %d: %d %q, want 200 echoing %q", i, resp.StatusCode, got, body)
			}
		}()
	}
	wg.Wait()
	if n := d.starts(); n != 1 {
		t.Fatalf("start ran %d times, want 1", n)
	}
}
