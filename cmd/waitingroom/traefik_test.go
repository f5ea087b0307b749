package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/guard"
)

func TestBackendHostsFollowsReloads(t *testing.T) {
	reg := controller.NewRegistry([]controller.Host{{Name: "a.example.com"}}, nil)
	b := &backendHosts{reg: reg}
	if h, ok := b.hostOf("a-example-com-backend@http"); !ok || h != "a.example.com" {
		t.Fatalf("hostOf = %q, %v", h, ok)
	}
	if _, ok := b.hostOf("b-example-com-backend@http"); ok {
		t.Fatal("unregistered host found")
	}
	reg.Replace([]controller.Host{{Name: "a.example.com"}, {Name: "b.example.com"}}, nil)
	if h, ok := b.hostOf("b-example-com-backend@file"); !ok || h != "b.example.com" {
		t.Fatalf("after reload: hostOf = %q, %v", h, ok)
	}
}

func TestTouchOnlyFromTrustedProxies(t *testing.T) {
	var reached int
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ })
	h := trustedOnly(guard.NewClientIP([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}),
		slog.New(slog.NewTextHandler(io.Discard, nil)), next)
	for _, tc := range []struct {
		peer string
		want int
	}{{"10.1.2.3:5000", 1}, {"203.0.113.9:5000", 1}, {"[::ffff:10.9.9.9]:1", 2}} {
		r := httptest.NewRequest(http.MethodGet, "/.waitingroom/touch", nil)
		r.RemoteAddr = tc.peer
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || reached != tc.want {
			t.Errorf("peer %s: code %d, reached %d, want %d", tc.peer, w.Code, reached, tc.want)
		}
	}
}
