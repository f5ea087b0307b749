package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waitingroom/waitingroom/config"
	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/guard"
	"github.com/waitingroom/waitingroom/hold"
	"github.com/waitingroom/waitingroom/metrics"
	"github.com/waitingroom/waitingroom/providers"
	"github.com/waitingroom/waitingroom/providers/kinds"
	"github.com/waitingroom/waitingroom/scheduler"
	"github.com/waitingroom/waitingroom/web"
	"github.com/waitingroom/waitingroom/webhook"
)

// limits.max_host_length reaches the public listener: it was parsed,
// defaulted and validated, and never passed on.
func TestMaxHostLengthReachesTheListener(t *testing.T) {
	tests := []struct {
		name   string
		limits string
		want   int
	}{
		{"default: a registered host is served", "", http.StatusServiceUnavailable},
		{"shorter than the host: refused", "limits:\n  max_host_length: 10\n", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("wr.yaml", []byte("listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n"+tt.limits+
				"providers:\n  local: {type: exec}\nhosts:\n  - host: app.example.com\n    provider: local\n    start: [\"true\"]\n    stop: [\"true\"]\n    ready_url: http://127.0.0.1:1/\n    wait: page\n"), kinds.All())
			if err != nil {
				t.Fatal(err)
			}
			a, err := newApp(t.Context(), cfg, "wr.yaml", slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer a.provs.Close()
			defer a.store.Close()
			r := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
			r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/140")
			r.Header.Set("Accept", "text/html")
			w := httptest.NewRecorder()
			a.public.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d", w.Code, tt.want)
			}
		})
	}
}

type refuseAll struct{}

func (refuseAll) AllowWake(context.Context, controller.Host, controller.Client) error {
	return &controller.BudgetError{Budget: "host_day"}
}

// Every refusal of the budgets reaches both observers of the gate chain,
// with or without webhooks, and is still returned to the controller.
func TestWakeGateChainReportsEveryRefusal(t *testing.T) {
	tests := []struct {
		name     string
		webhooks bool
	}{{"budgets and metrics", false}, {"budgets, webhooks and metrics", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := metrics.New(reg)
			if err != nil {
				t.Fatal(err)
			}
			var hooks *webhook.Notifier
			if tt.webhooks {
				if hooks, err = webhook.New(webhook.Options{Targets: []webhook.Target{{URL: "http://127.0.0.1:1/hook"}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
					t.Fatal(err)
				}
			}
			err = wakeGate(refuseAll{}, hooks, m).AllowWake(t.Context(), controller.Host{Name: "a.example.com"}, controller.Client{})
			var be *controller.BudgetError
			if !errors.As(err, &be) {
				t.Fatalf("AllowWake = %v, want the budget error", err)
			}
			if got := counter(t, reg, "waitingroom_budget_rejections_total"); got != 1 {
				t.Errorf("metrics counted %v refusals, want 1", got)
			}
			if tt.webhooks && hooks.Stats().Queued != 1 {
				t.Errorf("webhooks queued %d notifications, want 1", hooks.Stats().Queued)
			}
		})
	}
}

// counter sums a counter's series in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// The Set builds every configured provider through the kinds table; a
// spec of a type no kind has is refused, not built.
func TestProviderSetBuildsByKind(t *testing.T) {
	set := newProviderSet(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer set.Close()
	cfg, err := config.Parse("wr.yaml", []byte("providers:\n  local: {type: exec, timeout: 5s}\n"), kinds.All())
	if err != nil {
		t.Fatal(err)
	}
	built, err := set.Apply(t.Context(), cfg.ProviderSpecs())
	if err != nil || built["local"] == nil {
		t.Fatalf("Apply = %v, %v", built, err)
	}
	if _, err := set.Apply(t.Context(), map[string]providers.Spec{"x": {Type: "nope"}}); err == nil {
		t.Error("an unknown type built a provider")
	}
}

// The file's defaults are the ones the consuming packages apply to a zero
// option: a default changed in one place and not the other would make the
// configuration say one thing and the process do another.
func TestConfigDefaultsAgreeWithTheirConsumers(t *testing.T) {
	cfg, err := config.Parse("wr.yaml", []byte("providers:\n  local: {type: exec}\n"), kinds.All())
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.File
	tests := []struct {
		setting   string
		file, pkg any
	}{
		{"limits.max_header_bytes", f.Limits.MaxHeaderBytes, web.DefaultMaxHeaderBytes},
		{"limits.max_url_length", f.Limits.MaxURLLength, web.DefaultMaxURLLength},
		{"limits.max_host_length", f.Limits.MaxHostLength, web.MaxHostLength},
		{"hold.max_per_host", f.Hold.MaxPerHost, hold.DefaultMaxPerHost},
		{"hold.max_total", f.Hold.MaxTotal, hold.DefaultMaxTotal},
		{"hold.max_body_bytes", f.Hold.MaxBodyBytes, hold.DefaultMaxBodyBytes},
		{"hold.max_forward_per_host", f.Hold.MaxForwardPerHost, hold.DefaultMaxForwardPerHost},
		{"defaults.hold_timeout", f.Defaults.HoldTimeout.D(), hold.DefaultTimeout},
		{"budgets.honeypot_block", f.Budgets.HoneypotBlock.D(), guard.DefaultHoneypotBlock},
		{"scheduler.sweep_interval", f.Scheduler.SweepInterval.D(), scheduler.DefaultSweepInterval},
		{"scheduler.reconcile_interval", f.Scheduler.ReconcileInterval.D(), scheduler.DefaultReconcileInterval},
	}
	for _, tt := range tests {
		if fmt.Sprint(tt.file) != fmt.Sprint(tt.pkg) {
			t.Errorf("%s: the file's default is %v, its consumer's %v", tt.setting, tt.file, tt.pkg)
		}
	}
}
