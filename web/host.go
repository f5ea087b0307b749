package web

import (
	"net/netip"
	"strings"
)

// MaxHostLength is the longest host name DNS allows (RFC 1035), without
// the trailing dot.
const MaxHostLength = 253

// maxHostHeader bounds the raw Host header before any work is done: a
// maximal name, its trailing dot and ":65535".
const maxHostHeader = MaxHostLength + 1 + 6

// ParseHost normalises a Host header (or a registry entry) to the form the
// registry is keyed by, and reports whether it is well formed:
//
//   - lower case ("App.Example.COM" → "app.example.com");
//   - without its port ("app.example.com:443" → "app.example.com"; an empty
//     port, "app.example.com:", is allowed as RFC 3986 does);
//   - without one trailing dot ("app.example.com." → "app.example.com");
//   - IP literals in canonical form without brackets ("[::1]:80" → "::1",
//     "[::ffff:10.0.0.1]" → "10.0.0.1"); IPv6 zones are refused.
//
// A name is refused when it is empty, longer than MaxHostLength, has an
// empty label or one longer than 63 bytes, a label starting or ending with
// '-', or a byte other than ASCII letters, digits, '-' and '_' (Unicode
// names must arrive as punycode, "xn--…", as browsers send them). A name
// whose last label is all digits must be a valid IPv4 address ("1.2.3" and
// "010.0.0.1" are refused).
//
// For input that is already normal (with or without a port or trailing dot)
// ParseHost does not allocate: the result is a substring of s.
func ParseHost(s string) (string, bool) {
	if s == "" || len(s) > maxHostHeader+2 {
		return "", false
	}
	if s[0] == '[' {
		return parseIPv6Host(s)
	}
	name := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if !validPort(s[i+1:]) {
			return "", false
		}
		name = s[:i]
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > MaxHostLength {
		return "", false
	}
	upper := false
	labelLen := 0
	digitsOnly := true // the current label has digits only
	var prev byte = '.'
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
			digitsOnly = false
		case c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z':
			upper = true
			digitsOnly = false
		case c == '-':
			if prev == '.' {
				return "", false // label starts with '-'
			}
			digitsOnly = false
		case c == '.':
			if prev == '.' || prev == '-' {
				return "", false // empty label, or label ends with '-'
			}
			labelLen = 0
			digitsOnly = true
			prev = c
			continue
		default:
			return "", false // ':' left over, spaces, '/', '@', non-ASCII, ...
		}
		labelLen++
		if labelLen > 63 {
			return "", false
		}
		prev = c
	}
	if prev == '-' || prev == '.' {
		return "", false // last label ends with '-', or is empty ("a.b..")
	}
	if digitsOnly {
		// A numeric top label is no DNS name: it must be an IPv4 address
		// (netip refuses leading zeros and short forms like "1.2.3").
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is4() {
			return "", false
		}
		return name, true
	}
	if upper {
		name = strings.ToLower(name)
	}
	return name, true
}

// parseIPv6Host handles "[addr]" and "[addr]:port".
func parseIPv6Host(s string) (string, bool) {
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", false
	}
	if rest := s[end+1:]; rest != "" {
		if rest[0] != ':' || !validPort(rest[1:]) {
			return "", false
		}
	}
	inner := s[1:end]
	if strings.IndexByte(inner, '%') >= 0 {
		return "", false // a zone means nothing to anybody but this machine
	}
	a, err := netip.ParseAddr(inner)
	if err != nil || !a.Is6() {
		return "", false
	}
	return a.Unmap().String(), true
}

// validPort accepts "" (RFC 3986 allows an empty port) and 0–65535 in
// decimal without sign.
func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// isIPHost reports whether a normalised host is an IP literal.
func isIPHost(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}
