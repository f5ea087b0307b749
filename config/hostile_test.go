package config

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/providers/kinds"
)

// TestHostileInputs: inputs that are huge, deeply nested, binary or built
// to explode are refused with an error, quickly, without a panic.
func TestHostileInputs(t *testing.T) {
	const mb = 1 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, mb)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	var manyKeys strings.Builder
	for i := 0; manyKeys.Len() < mb; i++ {
		manyKeys.WriteString("key")
		manyKeys.WriteString(strings.Repeat("z", i%13))
		manyKeys.WriteString(": value\n")
	}
	var manyHosts strings.Builder
	manyHosts.WriteString("providers: {exec: {}}\nhosts:\n")
	for manyHosts.Len() < mb {
		manyHosts.WriteString("  - {host: same.example.com, provider: exec, start: [a], stop: [b]}\n")
	}
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 0, "a"; i < 9; i++ {
		name := string(rune('b' + i))
		bomb += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	bomb += "trusted_proxies: *j\n"
	hostBomb := "s: &s [" + strings.TrimSuffix(strings.Repeat("x, ", 5000), ", ") + "]\nh: &h {host: a.example.com, provider: exec, start: *s, stop: *s}\nproviders: {exec: {}}\nhosts: [" +
		strings.TrimSuffix(strings.Repeat("*h, ", 50000), ", ") + "]\n"
	var deepMap strings.Builder
	for i := range 1400 { // about 1 MB, nesting 1400 deep
		deepMap.WriteString(strings.Repeat(" ", i) + "a:\n")
	}

	tests := []struct {
		name string
		data string
		want string // a substring of the error
	}{
		{"1 MB of one letter", strings.Repeat("a", mb), "must be a mapping"},
		{"1 MB of random bytes", string(random), ""},
		{"1 MB of unknown keys", manyKeys.String(), "more problems not shown"},
		{"1 MB of one value", "listen: " + strings.Repeat("9", mb), "is not an address"},
		{"1 MB of duplicate hosts", manyHosts.String(), "listed twice"},
		{"over the size limit", "listen: ':8080'\n" + strings.Repeat("#", MaxFileSize), "the limit is"},
		{"deeply nested lists", "hosts: " + strings.Repeat("[", 100000), "max depth"},
		{"deeply nested mappings", deepMap.String(), ""},
		{"deeply nested value", "listen: " + strings.Repeat("{a: ", 5000) + strings.Repeat("}", 5000), "expected a string"},
		{"billion laughs", bomb, "expected a string, got a list"},
		{"anchors repeating a long argv", hostBomb, "repeats anchors too often"},
		{"a mapping merging itself", "x-a: &a {<<: *a, b: 1}\nhosts: [*a]\n", "merges a mapping into itself"},
		{"a mapping merging itself twice", "defaults: &d {<<: [*d, *d]}\n", "merges a mapping into itself"},
		{"merges doubling at every level", mergeBomb(), ""},
		{"NUL bytes", "listen: \x00\x00\x00", "control character"},
		{"UTF-16", "\xff\xfel\x00i\x00s\x00t\x00", "not UTF-8"},
		{"only a BOM", "\xef\xbb\xbf", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			cfg, err := Parse("config.yaml", []byte(tt.data), kinds.All())
			took := time.Since(start)
			t.Logf("%d bytes in %s", len(tt.data), took)
			if tt.name == "only a BOM" {
				if err != nil || cfg == nil {
					t.Errorf("a file holding only a byte order mark is empty, hence valid: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted")
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not mention %q:\n%.2000s", tt.want, err)
			}
			if n := len(err.Error()); n > 200*1024 {
				t.Errorf("error is %d bytes long", n)
			}
			// Generous bounds (the machine is shared): they catch work that
			// grows out of proportion, not a slow run.
			limit := 10 * time.Second
			if raceEnabled {
				limit = 60 * time.Second
			}
			if took > limit {
				t.Errorf("took %s", took)
			}
		})
	}
}

// mergeBomb builds mappings that each merge the previous one twice: the
// merged keys double at every level.
func mergeBomb() string {
	var b strings.Builder
	b.WriteString("x-0: &m0 {host: a.example.com, provider: exec}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "x-%d: &m%d {<<: [*m%d, *m%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("hosts: [*m39]\n")
	return b.String()
}
