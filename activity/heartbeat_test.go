package activity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/activity"
	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
)

const (
	goodToken  = "0123456789abcdef0123456789abcdef"
	otherToken = "fedcba9876543210fedcba9876543210"
)

func fakeEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
}

// heartbeatServer mounts the handler on a mux as the admin listener will.
func heartbeatServer(t *testing.T, hb *activity.Heartbeat) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(activity.HeartbeatPattern, hb)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func touch(t *testing.T, srv *httptest.Server, method, host, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/api/hosts/"+host+"/touch", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	return resp.StatusCode, body.String()
}

// A heartbeat every 45s keeps a host with a 1m idle timeout awake for as
// long as it beats; without heartbeats the same host stops.
func TestHeartbeatKeepsHostAwakePastIdleTimeout(t *testing.T) {
	for _, beat := range []bool{true, false} {
		name := "without heartbeat the host stops"
		if beat {
			name = "with heartbeats the host stays awake"
		}
		t.Run(name, func(t *testing.T) {
			clock := fake.NewClock(time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC))
			h := testHost("batch.example.com", time.Minute, config.ActivityOptions{TouchTokenEnv: "BATCH_TOKEN"})
			e := newEnv(t, clock, nil, h)
			hb, err := activity.NewHeartbeat(activity.HeartbeatOptions{
				Toucher: e.ctrl, Logger: quietLogger(), Getenv: fakeEnv(map[string]string{"BATCH_TOKEN": goodToken}),
			}, e.reg.Hosts())
			if err != nil {
				t.Fatal(err)
			}
			srv := heartbeatServer(t, hb)
			wakeAndWait(t, e, h.Name)

			stoppedAt := -1
			for i := range 4 { // 3 minutes in all: three times the idle timeout
				clock.Advance(45 * time.Second)
				if beat {
					if code, body := touch(t, srv, http.MethodPost, h.Name, goodToken); code != http.StatusNoContent {
						t.Fatalf("heartbeat: %d %s", code, body)
					}
				}
				if sweep(t, e, h.Name) {
					stoppedAt = i
					break
				}
			}
			if !beat {
				// Idle since the wake: not at 45s, stopped at 90s.
				if stoppedAt != 1 {
					t.Fatalf("stopped in round %d, want round 1 (90s idle)", stoppedAt)
				}
				waitState(t, e, h.Name, controller.StateStopped)
				return
			}
			if stoppedAt >= 0 {
				t.Fatalf("stopped in round %d despite heartbeats", stoppedAt)
			}
			_, rec, _ := e.ctrl.Status(context.Background(), h.Name)
			if rec.State != controller.StateRunning || rec.ActivitySource != activity.SourceHeartbeat {
				t.Fatalf("record %s / %q, want running with activity from heartbeat", rec.State, rec.ActivitySource)
			}
		})
	}
}

func TestHeartbeatAnswers(t *testing.T) {
	clock := fake.NewClock(time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC))
	hosts := []controller.Host{
		testHost("batch.example.com", time.Minute, config.ActivityOptions{TouchTokenFile: "/run/secrets/batch"}),
		testHost("plain.example.com", time.Minute, config.ActivityOptions{}),
		testHost("broken.example.com", time.Minute, config.ActivityOptions{TouchTokenFile: "/run/secrets/missing"}),
	}
	e := newEnv(t, clock, nil, hosts...)
	hb, err := activity.NewHeartbeat(activity.HeartbeatOptions{
		Toucher: e.ctrl, Logger: quietLogger(),
		ReadFile: fakeFiles(map[string]string{"/run/secrets/batch": goodToken + "\n"}),
	}, e.reg.Hosts())
	if err == nil || !strings.Contains(err.Error(), "broken.example.com") {
		t.Fatalf("NewHeartbeat error %v, want one naming broken.example.com", err)
	}
	srv := heartbeatServer(t, hb)

	cases := []struct {
		name, method, host, token string
		code                      int
		wantBody                  string
	}{
		{"good token", http.MethodPost, "batch.example.com", goodToken, http.StatusNoContent, ""},
		{"host name is normalised", http.MethodPost, "BATCH.example.com.", goodToken, http.StatusNoContent, ""},
		{"wrong token", http.MethodPost, "batch.example.com", otherToken, http.StatusUnauthorized, "wrong token"},
		{"no token", http.MethodPost, "batch.example.com", "", http.StatusUnauthorized, "Authorization: Bearer"},
		{"a prefix of the token", http.MethodPost, "batch.example.com", goodToken[:16], http.StatusUnauthorized, "wrong token"},
		{"unreadable token file", http.MethodPost, "broken.example.com", goodToken, http.StatusUnauthorized, "wrong token"},
		{"heartbeats not enabled", http.MethodPost, "plain.example.com", goodToken, http.StatusNotFound, "touch_token_file"},
		{"unknown host", http.MethodPost, "nope.example.com", goodToken, http.StatusNotFound, "no such host"},
		{"malformed host", http.MethodPost, "a%20b", goodToken, http.StatusNotFound, "no such host"},
		{"GET", http.MethodGet, "batch.example.com", goodToken, http.StatusMethodNotAllowed, "use POST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := touch(t, srv, c.method, c.host, c.token)
			if code != c.code {
				t.Fatalf("status %d (%s), want %d", code, body, c.code)
			}
			if c.code == http.StatusNoContent {
				return
			}
			var msg struct{ Error string }
			if err := json.Unmarshal([]byte(body), &msg); err != nil || !strings.Contains(msg.Error, c.wantBody) {
				t.Fatalf("body %q (err %v), want JSON error mentioning %q", body, err, c.wantBody)
			}
		})
	}
	if !hb.Enabled("batch.example.com") || hb.Enabled("plain.example.com") {
		t.Fatal("Enabled does not match the configuration")
	}
}

// Reload picks up a rotated token; the old one stops working. Tokens never
// reach the log, even when they are refused.
func TestHeartbeatReloadRotatesTokenAndNeverLogsIt(t *testing.T) {
	clock := fake.NewClock(time.Date(2025, 3, 5, 12, 0, 0, 0, time.UTC))
	h := testHost("batch.example.com", time.Minute, config.ActivityOptions{TouchTokenEnv: "TOKEN"})
	e := newEnv(t, clock, nil, h)
	vars := map[string]string{"TOKEN": goodToken}
	var logs bytes.Buffer
	hb, err := activity.NewHeartbeat(activity.HeartbeatOptions{
		Toucher: e.ctrl, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Getenv: func(k string) string { return vars[k] },
	}, e.reg.Hosts())
	if err != nil {
		t.Fatal(err)
	}
	srv := heartbeatServer(t, hb)
	if code, _ := touch(t, srv, http.MethodPost, h.Name, goodToken); code != http.StatusNoContent {
		t.Fatalf("first token: %d", code)
	}
	vars["TOKEN"] = otherToken
	if err := hb.Reload(e.reg.Hosts()); err != nil {
		t.Fatal(err)
	}
	if code, _ := touch(t, srv, http.MethodPost, h.Name, goodToken); code != http.StatusUnauthorized {
		t.Fatalf("old token after rotation: %d, want 401", code)
	}
	if code, _ := touch(t, srv, http.MethodPost, h.Name, otherToken); code != http.StatusNoContent {
		t.Fatalf("new token: %d", code)
	}
	vars["TOKEN"] = "short"
	if err := hb.Reload(e.reg.Hosts()); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short token: %v, want a length error", err)
	}
	if code, _ := touch(t, srv, http.MethodPost, h.Name, "short"); code != http.StatusUnauthorized {
		t.Fatalf("short token: %d, want 401", code)
	}
	for _, tok := range []string{goodToken, otherToken, "short"} {
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("log contains a token: %s", logs.String())
		}
	}
}

// A store failure is a 503 the backend can retry, not a 500.
func TestHeartbeatStoreFailureIs503(t *testing.T) {
	h := testHost("batch.example.com", time.Minute, config.ActivityOptions{TouchTokenEnv: "TOKEN"})
	hb, err := activity.NewHeartbeat(activity.HeartbeatOptions{
		Toucher: failingToucher{}, Logger: quietLogger(), Getenv: fakeEnv(map[string]string{"TOKEN": goodToken}),
	}, []controller.Host{h})
	if err != nil {
		t.Fatal(err)
	}
	srv := heartbeatServer(t, hb)
	if code, body := touch(t, srv, http.MethodPost, h.Name, goodToken); code != http.StatusServiceUnavailable {
		t.Fatalf("status %d %s, want 503", code, body)
	}
}

type failingToucher struct{}

func (failingToucher) Touch(context.Context, string, string) error {
	return errors.Join(errors.New("redis down"), controller.ErrStoreUnavailable)
}
