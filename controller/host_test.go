package controller_test

import (
	"testing"

	"github.com/waitingroom/waitingroom/controller"
)

func TestLookupBytesFindsWhatLookupFinds(t *testing.T) {
	reg := controller.NewRegistry([]controller.Host{{Name: "app.example.com", Provider: "docker"}}, nil)
	tests := []struct {
		name string
		ok   bool
	}{
		{"app.example.com", true},
		{"App.example.com", false}, // names are looked up as stored: normalising is the caller's job
		{"other.example.com", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, ok := reg.LookupBytes([]byte(tt.name))
			want, wantOK := reg.Lookup(tt.name)
			if ok != tt.ok || ok != wantOK || h.Name != want.Name || h.Provider != want.Provider {
				t.Errorf("LookupBytes(%q) = %q, %v; Lookup = %q, %v; want ok %v", tt.name, h.Name, ok, want.Name, wantOK, tt.ok)
			}
		})
	}
}

func TestLookupBytesDoesNotAllocate(t *testing.T) {
	reg := controller.NewRegistry([]controller.Host{{Name: "app.example.com"}}, nil)
	name := []byte("app.example.com")
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := reg.LookupBytes(name); !ok {
			t.Fatal("registered host not found")
		}
	})
	if allocs != 0 {
		t.Errorf("LookupBytes allocates %.0f times; want 0", allocs)
	}
}
