package e2e

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/proc"
)

// A long stream to the backend keeps its host awake past the idle timeout
// (open-connections source); when it ends, the host is stopped.
func TestOpenStreamKeepsHostAwake(t *testing.T) {
	d := newDemoHost(t, "stream.test", 0, "2s")
	cfg := strings.Replace(baseConfig, "  exec: {}\n", "  exec:\n    count_connections: true\n", 1) + "hosts:" + d.yaml()
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	wake(t, w, "stream.test")
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "stream.test") == "running" }, "never running")

	// A 6 s stream, three idle timeouts long.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(d.url() + "/stream?seconds=6")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if s := status(t, w, "stream.test"); s != "running" {
			t.Fatalf("host %s %s into the stream", s, time.Since(start).Round(time.Millisecond))
		}
	}
	resp.Body.Close()
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "stream.test") == "stopped" },
		"not stopped after the stream ended")
}

// A backend heartbeats through the admin API with its own token and stays
// awake; a wrong token is refused.
func TestHeartbeatKeepsHostAwake(t *testing.T) {
	d := newDemoHost(t, "beat.test", 0, "2s")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(d.yaml(), "    provider: exec\n", fmt.Sprintf("    provider: exec\n    touch_token_file: %q\n", tokenFile), 1)
	w := proc.StartWaitingroom(t, bins, t.TempDir(), baseConfig+"hosts:"+y)
	wake(t, w, "beat.test")
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "beat.test") == "running" }, "never running")
	beat := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, w.Admin+"/api/hosts/beat.test/touch", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := beat("wrong"); c != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", c)
	}
	for i := 0; i < 8; i++ { // 4 s of heartbeats, twice the idle timeout
		if c := beat("s3cret-token-0123456789abcdef"); c/100 != 2 {
			t.Fatalf("heartbeat: %d", c)
		}
		if s := status(t, w, "beat.test"); s != "running" {
			t.Fatalf("host %s although heartbeating", s)
		}
		time.Sleep(500 * time.Millisecond)
	}
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "beat.test") == "stopped" }, "not stopped without heartbeats")
	if strings.Contains(w.Output(), "s3cret-token-0123456789abcdef") {
		t.Fatal("the token is in the log")
	}
}

// A backend started by hand is adopted (its idle timer starts when it is
// found) and stopped when idle; webhooks report it, signed.
func TestAdoptedBackendStoppedAndWebhooksSigned(t *testing.T) {
	var mu sync.Mutex
	var got []string
	secret := "hook-secret"
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// The contract receivers implement (README): sha256= and the hex
		// HMAC-SHA256 of the raw body, compared in constant time.
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if !hmac.Equal([]byte("sha256="+hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get("X-Waitingroom-Signature"))) {
			t.Errorf("bad webhook signature on %s", body)
		}
		var p struct {
			Host, To string
		}
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
	}))
	defer recv.Close()
	t.Setenv("HOOK_SECRET", secret)

	d := newDemoHost(t, "adopt.test", 0, "2s")
	if err := runCmd(bins.DemoBackend, "start", "--addr", strings.TrimPrefix(d.url(), "http://"), "--pidfile", d.pidfile()); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig + fmt.Sprintf("webhooks:\n  - url: %s\n    secret_env: HOOK_SECRET\nhosts:", recv.URL) + d.yaml()
	w := proc.StartWaitingroom(t, bins, t.TempDir(), cfg)
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "adopt.test") == "running" }, "not adopted")
	proc.Eventually(t, 15*time.Second, func() bool { return status(t, w, "adopt.test") == "stopped" }, "adopted backend never stopped")
	proc.Eventually(t, 5*time.Second, func() bool { return !d.processAlive() }, "backend still alive")
	received := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(got, "\n")
	}
	proc.Eventually(t, 10*time.Second, func() bool { return strings.Contains(received(), `"stopped"`) },
		"no signed webhook for the stop; got %v", lazy(received))
}

// lazy is a message argument computed when the message is printed, not
// when the call that may print it is made (which would read shared state
// early, and without its lock).
type lazy func() string

func (f lazy) String() string { return f() }
