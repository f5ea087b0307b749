package controller_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/store/memory"
)

type checker struct {
	fake.Provider
	err error
}

func (c *checker) Check(context.Context) error { return c.err }

type downStore struct{ controller.Store }

func (downStore) Ping(context.Context) error { return controller.ErrStoreUnavailable }

// Health is what /readyz answers: the store's Ping and every Checker
// provider's Check, each failure in its own words.
func TestHealthReportsStoreAndProviders(t *testing.T) {
	tests := []struct {
		name      string
		store     controller.Store
		providers map[string]controller.Provider
		want      controller.Health
	}{
		{"all fine", memory.New(nil), map[string]controller.Provider{"a": &checker{}, "b": &fake.Provider{}},
			controller.Health{Ready: true}},
		{"store down", downStore{memory.New(nil)}, nil,
			controller.Health{Store: controller.ErrStoreUnavailable.Error()}},
		{"an engine down", memory.New(nil), map[string]controller.Provider{"a": &checker{err: errors.New("engine down")}},
			controller.Health{Providers: map[string]string{"a": "engine down"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := controller.New(controller.Options{
				Store:    tt.store,
				Registry: controller.NewRegistry(nil, tt.providers),
				Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			got := c.Health(t.Context(), time.Second)
			if got.Ready != tt.want.Ready || got.Store != tt.want.Store || len(got.Providers) != len(tt.want.Providers) {
				t.Fatalf("Health = %+v, want %+v", got, tt.want)
			}
			for k, v := range tt.want.Providers {
				if got.Providers[k] != v {
					t.Errorf("provider %s: %q, want %q", k, got.Providers[k], v)
				}
			}
		})
	}
}
