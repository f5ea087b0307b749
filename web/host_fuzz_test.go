package web

import (
	"strings"
	"testing"

	"github.com/waitingroom/waitingroom/internal/hostname"
)

// FuzzParseHostAgreesWithHostnameRule holds the zero-allocation Host
// scanner to the one hostname rule: every name the registry may hold is
// found under every spelling a client sends (case, trailing dot, port),
// and every name the scanner accepts is one the registry may hold (or an
// IP literal, which is never registered and gets the unknown-host answer).
func FuzzParseHostAgreesWithHostnameRule(f *testing.F) {
	for _, s := range []string{"app.example.com", "App.Example.COM.", "my_service.internal", "example.0x1f",
		"10.0.0.5", "1.2.3", "a-.b", "xn--bcher-kva.example", "localhost", "[::1]", "a..b", "bücher.example"} {
		f.Add(s, uint16(0))
		f.Add(s, uint16(8080))
	}
	f.Fuzz(func(t *testing.T, name string, port uint16) {
		if strings.ContainsAny(name, ":[]") {
			return // a name never holds these; IP literals are the scanner's own
		}
		canon, err := hostname.Check(name)
		if err != nil {
			if got, ok := ParseHost(name); ok && !isIPHost(got) {
				t.Fatalf("ParseHost(%q) accepts %q, which hostname.Check refuses: %v", name, got, err)
			}
			return
		}
		spellings := []string{name, canon, strings.ToUpper(canon), canon + "."}
		if port > 0 {
			spellings = append(spellings, canon+":"+itoa(int(port)), strings.ToUpper(canon)+".:"+itoa(int(port)))
		}
		for _, s := range spellings {
			if got, ok := ParseHost(s); !ok || got != canon {
				t.Fatalf("hostname.Check(%q) = %q, but ParseHost(%q) = %q, %v", name, canon, s, got, ok)
			}
		}
	})
}

func itoa(n int) string {
	var b [5]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}
