package web

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/waitingroom/waitingroom/controller"
)

func TestParseHost(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	max253 := strings.Repeat(long63+".", 3) + strings.Repeat("b", 61) // 4*64-1-2 = 253
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"app.example.com", "app.example.com", true},
		{"app.example.com:443", "app.example.com", true},
		{"app.example.com:", "app.example.com", true},
		{"App.Example.COM", "app.example.com", true},
		{"APP.example.com:8080", "app.example.com", true},
		{"app.example.com.", "app.example.com", true},
		{"app.example.com.:80", "app.example.com", true},
		{"localhost", "localhost", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"a-b.c-d.example", "a-b.c-d.example", true},
		{"10.0.0.5", "10.0.0.5", true},
		{"10.0.0.5:8080", "10.0.0.5", true},
		{"[::1]", "::1", true},
		{"[::1]:80", "::1", true},
		{"[2001:DB8::1]:443", "2001:db8::1", true},
		{"[::ffff:10.0.0.5]", "10.0.0.5", true},
		{"[::FFFF:10.0.0.5]:443", "10.0.0.5", true},
		{"[::ffff:a00:5]", "10.0.0.5", true},
		{"[0::1]", "::1", true},
		{"[0:0:0:0:0:0:0:1]:80", "::1", true},
		{"[2001:0db8::1]", "2001:db8::1", true},
		{"[2001:db8::1]:443", "2001:db8::1", true},
		{"APP.EXAMPLE.COM.:443", "app.example.com", true},
		{long63 + ".com", long63 + ".com", true},
		{max253, max253, true},
		{max253 + ".", max253, true},

		{"", "", false},
		{":80", "", false},
		{".", "", false},
		{"app.example.com..", "", false},
		{"app..example.com", "", false},
		{".app.example.com", "", false},
		{"-app.example.com", "", false},
		{"app-.example.com", "", false},
		{"app.example.com-", "", false},
		{"app example.com", "", false},
		{"app.example.com/x", "", false},
		{"user@app.example.com", "", false},
		{"app.example.com:99999", "", false},
		{"app.example.com:8o", "", false},
		{"app.example.com:-1", "", false},
		{"app.example.com:123456", "", false},
		{"bücher.example", "", false},
		{"::1", "", false},
		{"[::1", "", false},
		{"[::1]x", "", false},
		{"[::1]:x", "", false},
		{"[fe80::1%eth0]", "", false},
		{"[10.0.0.5]", "", false},
		{"[]", "", false},
		{"1.2.3", "", false},
		{"010.0.0.1", "", false},
		{"256.0.0.1", "", false},
		{"app.123", "", false},
		{long63 + "a.com", "", false},
		{max253 + "b", "", false},
		{strings.Repeat("a", 1<<20), "", false},
		{"app.example.com\x00", "", false},
		{"my_service.internal", "", false}, // no registered name has '_' (internal/hostname)
		{"My_Service.Internal", "", false},
		{"example.0x1f", "", false},
		{"example.0X1F:80", "", false},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run(name, func(t *testing.T) {
			got, ok := ParseHost(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseHost(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseHostDoesNotAllocateForNormalInput(t *testing.T) {
	for _, in := range []string{"app.example.com", "app.example.com:443", "app.example.com.", "10.0.0.5:80", "[2001:db8::1]:443", "[::ffff:10.0.0.5]"} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok := ParseHost(in); !ok {
				t.Fatalf("ParseHost(%q) refused", in)
			}
		})
		if allocs != 0 {
			t.Errorf("ParseHost(%q) allocates %.0f times; want 0", in, allocs)
		}
	}
}

func FuzzParseHost(f *testing.F) {
	for _, s := range []string{
		"app.example.com", "App.Example.COM:443", "app.example.com.", "[::1]:80", "10.0.0.5",
		"[::ffff:1.2.3.4]", "a..b", "-a", "xn--bcher-kva.example", "[fe80::1%eth0]", "1.2.3", ":",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := ParseHost(in)
		if !ok {
			if got != "" {
				t.Fatalf("ParseHost(%q) refused but returned %q", in, got)
			}
			return
		}
		if got == "" || len(got) > MaxHostLength {
			t.Fatalf("ParseHost(%q) = %q: empty or too long", in, got)
		}
		if !utf8.ValidString(got) || strings.ToLower(got) != got {
			t.Fatalf("ParseHost(%q) = %q: not lower-case ASCII", in, got)
		}
		if strings.HasSuffix(got, ".") || strings.ContainsAny(got, "[]/ @%") {
			t.Fatalf("ParseHost(%q) = %q: not normalised", in, got)
		}
		// Normal form is a fixed point: parsing it again changes nothing.
		again := got
		if strings.Contains(got, ":") {
			again = "[" + got + "]"
		}
		if got2, ok2 := ParseHost(again); !ok2 || got2 != got {
			t.Fatalf("ParseHost(%q) = %q, but ParseHost(%q) = %q, %v", in, got, again, got2, ok2)
		}
	})
}

// TestRequestHostAgreesWithParseHost: the request path returns what
// ParseHost returns, whether the host is registered (the registry's string)
// or not (a copy).
func TestRequestHostAgreesWithParseHost(t *testing.T) {
	registered := controller.NewRegistry([]controller.Host{{Name: "app.example.com"}, {Name: "2001:db8::1"}}, nil)
	empty := controller.NewRegistry(nil, nil)
	for _, in := range []string{
		"app.example.com", "App.Example.COM", "APP.EXAMPLE.COM.:443", "other.example.com", "Other.Example.COM",
		"[2001:db8::1]:443", "[2001:DB8::1]", "[2001:0db8:0::1]", "[::FFFF:a00:5]", "10.0.0.5:80",
		"App.Example.COM:x", "[2001:db8::1%eth0]", "-App.example.com", "", "[]",
	} {
		want, wantOK := ParseHost(in)
		for name, reg := range map[string]*controller.Registry{"registered": registered, "empty": empty} {
			if got, ok := requestHost(in, reg); got != want || ok != wantOK {
				t.Errorf("%s registry: requestHost(%q) = %q, %v; ParseHost = %q, %v", name, in, got, ok, want, wantOK)
			}
		}
	}
}

// zeroAllocHosts are the Host headers the request path must parse without
// allocating; hostRegistry registers their names.
var zeroAllocHosts = []string{
	"app.example.com", "app.example.com:443", "App.Example.COM", "[2001:db8::1]:443",
	"APP.example.com.:8080", "[2001:DB8::1]", "[::ffff:10.0.0.5]", "10.0.0.5:80",
}

func hostRegistry() *controller.Registry {
	return controller.NewRegistry([]controller.Host{{Name: "app.example.com"}, {Name: "2001:db8::1"}}, nil)
}

func TestRequestHostDoesNotAllocate(t *testing.T) {
	reg := hostRegistry()
	for _, in := range zeroAllocHosts {
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok := requestHost(in, reg); !ok {
				t.Fatalf("requestHost(%q) refused", in)
			}
		})
		if allocs != 0 {
			t.Errorf("requestHost(%q) allocates %.0f times; want 0", in, allocs)
		}
	}
}

func FuzzRequestHost(f *testing.F) {
	for _, s := range []string{
		"app.example.com", "App.Example.COM:443", "[2001:DB8::1]", "[::FFFF:a00:5]:80", "10.0.0.5",
		"[0:0::1]", "A..b", "-A", "XN--bcher-kva.example", "[fe80::1%eth0]", "1.2.3", ":",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		want, wantOK := ParseHost(in)
		if got, ok := requestHost(in, controller.NewRegistry(nil, nil)); got != want || ok != wantOK {
			t.Fatalf("empty registry: requestHost(%q) = %q, %v; ParseHost = %q, %v", in, got, ok, want, wantOK)
		}
		if !wantOK {
			return
		}
		reg := controller.NewRegistry([]controller.Host{{Name: want}}, nil)
		if got, ok := requestHost(in, reg); got != want || !ok {
			t.Fatalf("%q registered: requestHost(%q) = %q, %v; want %q, true", want, in, got, ok, want)
		}
	})
}

// BenchmarkParseHost measures the request path (requestHost, with the
// names registered), which must not allocate; bench/gobench.go reports
// these sub-benchmarks by name.
func BenchmarkParseHost(b *testing.B) {
	reg := hostRegistry()
	for _, in := range zeroAllocHosts[:4] {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := requestHost(in, reg); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}

// BenchmarkParseHostString measures ParseHost itself, which copies a name
// that is no substring of its input.
func BenchmarkParseHostString(b *testing.B) {
	for _, in := range zeroAllocHosts[:4] {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := ParseHost(in); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}
