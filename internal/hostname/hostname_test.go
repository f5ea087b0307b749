package hostname

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"app.example.com", "app.example.com", true},
		{"App.Example.COM", "app.example.com", true},
		{"app.example.com.", "app.example.com", true},
		{"app.example.com:8443", "", false}, // a port: refused, not silently dropped
		{"app.localhost:8080", "", false},
		{"localhost", "localhost", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"a-b.c-d.example", "a-b.c-d.example", true},
		{strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com", true},
		{"", "", false},
		{".", "", false},
		{"app.example.com:0", "", false},
		{"app.example.com:http", "", false},
		{"app.example.com:", "", false},
		{"1.2.3.4", "", false},
		{"1.2.3", "", false},
		{"example.0x1f", "", false},
		{"::1", "", false},
		{"[::1]:443", "", false},
		{"*.example.com", "", false},
		{"a..b", "", false},
		{".a.b", "", false},
		{"-a.b", "", false},
		{"a-.b", "", false},
		{"a b", "", false},
		{"a\tb", "", false},
		{"bücher.example", "", false},
		{"http://app.example.com", "", false},
		{"app.example.com/x", "", false},
		{"under_score.example", "", false},
		{strings.Repeat("a", 64) + ".com", "", false},
		{strings.Repeat("a.", 127) + "ab", "", false}, // 256 characters
	}
	for _, tt := range tests {
		got, err := Check(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Check(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
