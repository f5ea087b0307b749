package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/store/memory"
)

// checkingProvider is a provider whose engine check the test decides.
type checkingProvider struct {
	fake.Provider
	check func(ctx context.Context) error
}

var _ controller.Checker = (*checkingProvider)(nil)

func (p *checkingProvider) Check(ctx context.Context) error { return p.check(ctx) }

func newTestAdmin(t *testing.T, st controller.Store, providers map[string]controller.Provider) *Admin {
	t.Helper()
	a, err := NewAdmin(AdminOptions{
		Controller: controller.New(controller.Options{
			Store: st, Registry: controller.NewRegistry(nil, providers), Logger: discardLogger(),
		}),
		Logger:       discardLogger(),
		CheckTimeout: 200 * time.Millisecond,
		Hosts:        []string{"example.com"}, // httptest.NewRequest's Host
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHealthz(t *testing.T) {
	st := &flakyStore{Store: memory.New(nil)}
	st.down.Store(true) // a dependency outage is not a reason to restart the process
	a := newTestAdmin(t, st, nil)
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != 200 || w.Body.String() != "ok\n" {
		t.Errorf("healthz: %d %q", w.Code, w.Body)
	}
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name      string
		storeDown bool
		providers map[string]controller.Provider
		want      int
		wantBody  readiness
	}{
		{
			name: "store and checkers fine", want: 200, wantBody: readiness{Ready: true},
			providers: map[string]controller.Provider{"docker": &checkingProvider{check: ok}, "exec": &fake.Provider{}},
		},
		{
			name: "store down", storeDown: true, want: 503,
			wantBody: readiness{Store: "dial tcp 127.0.0.1:6379: connect: connection refused: store unavailable"},
		},
		{
			name: "a provider's engine down", want: 503,
			providers: map[string]controller.Provider{
				"docker": &checkingProvider{check: func(context.Context) error {
					return errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
				}},
				"gce":  &checkingProvider{check: ok},
				"exec": &fake.Provider{},
			},
			wantBody: readiness{Providers: map[string]string{"docker": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"}},
		},
		{
			name: "a check that hangs and ignores its context", want: 503,
			providers: map[string]controller.Provider{"gce": &checkingProvider{check: func(context.Context) error {
				time.Sleep(2 * time.Second)
				return nil
			}}},
			wantBody: readiness{Providers: map[string]string{"gce": "no answer within 200ms"}},
		},
		{
			name: "everything down", storeDown: true, want: 503,
			providers: map[string]controller.Provider{"docker": &checkingProvider{check: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}}},
			wantBody: readiness{
				Store:     "dial tcp 127.0.0.1:6379: connect: connection refused: store unavailable",
				Providers: map[string]string{"docker": "context deadline exceeded"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &flakyStore{Store: memory.New(nil)}
			st.down.Store(tt.storeDown)
			a := newTestAdmin(t, st, tt.providers)
			start := time.Now()
			w := httptest.NewRecorder()
			a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if d := time.Since(start); d > time.Second {
				t.Errorf("readyz took %s", d)
			}
			var got readiness
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if w.Code != tt.want || got.Ready != (tt.want == 200) || got.Store != tt.wantBody.Store || len(got.Providers) != len(tt.wantBody.Providers) {
				t.Fatalf("readyz: %d %s, want %d %+v", w.Code, w.Body, tt.want, tt.wantBody)
			}
			for k, v := range tt.wantBody.Providers {
				// On a loaded machine the context's own error may lose the
				// race against the grace timer: either says it failed.
				if v == "context deadline exceeded" && strings.HasPrefix(got.Providers[k], "no answer within") {
					continue
				}
				if got.Providers[k] != v {
					t.Errorf("providers[%s] = %q, want %q", k, got.Providers[k], v)
				}
			}
			if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", w.Header())
			}
		})
	}
}

func TestAdminWithRealController(t *testing.T) {
	rs := newRealSetup(t)
	a, err := NewAdmin(AdminOptions{Controller: rs.ctl, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a)
	t.Cleanup(ts.Close)
	for _, down := range []bool{false, true, false} {
		rs.store.down.Store(down)
		res, err := http.Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := map[bool]int{false: 200, true: 503}[down]; res.StatusCode != want {
			t.Errorf("store down=%v: readyz %d, want %d", down, res.StatusCode, want)
		}
	}
	srv := a.Server("127.0.0.1:0")
	if srv.ReadHeaderTimeout == 0 || srv.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("admin server without limits: %+v", srv)
	}
	if _, err := NewAdmin(AdminOptions{}); err == nil {
		t.Error("NewAdmin without a controller succeeded")
	}
}
