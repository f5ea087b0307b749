package web

import (
	"net/netip"
	"strings"

	"github.com/waitingroom/waitingroom/controller"
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
// '-', or a byte other than ASCII letters, digits and '-' (Unicode names
// must arrive as punycode, "xn--…", as browsers send them). A name whose
// last label is all digits must be a valid IPv4 address ("1.2.3" and
// "010.0.0.1" are refused); one whose last label is a hex number ("0x1f")
// is refused. For names this is internal/hostname's rule (the registry's),
// which FuzzParseHostAgreesWithHostnameRule holds it to.
//
// For input that is already normal (with or without a port or trailing dot,
// an IPv6 address in canonical form) ParseHost does not allocate: the result
// is a substring of s. The public listener uses requestHost, which does not
// allocate for registered hosts in any spelling either.
func ParseHost(s string) (string, bool) {
	raw, rewrite, ok := scanHost(s)
	if !rewrite {
		return raw, ok
	}
	var buf [MaxHostLength]byte
	return string(appendNormalHost(buf[:0], raw)), true
}

// requestHost is ParseHost for the request path. A normal form that is no
// substring of s (a mixed-case name, an IPv6 address in another spelling)
// is built on the stack and looked up in reg, and the registry's own string
// is returned, so a request for a registered host allocates nothing however
// its Host header is spelled. An unregistered one is copied: it only earns
// the unknown-host answer.
//
// reg is the concrete *controller.Registry, not an interface or a lookup
// function, on purpose: bytes passed through a dynamic call escape, which
// would move the buffer to the heap on every such request.
func requestHost(s string, reg *controller.Registry) (string, bool) {
	raw, rewrite, ok := scanHost(s)
	if !rewrite {
		return raw, ok
	}
	var buf [MaxHostLength]byte
	b := appendNormalHost(buf[:0], raw)
	if h, found := reg.LookupBytes(b); found {
		return h.Name, true
	}
	return string(b), true
}

// scanHost checks s as ParseHost documents, without allocating. When ok,
// raw is a substring of s: the normal form itself, or, when rewrite is
// set, the host to pass to appendNormalHost (a name with upper-case
// letters, or a non-canonical IPv6 address without its brackets).
func scanHost(s string) (raw string, rewrite, ok bool) {
	if s == "" || len(s) > maxHostHeader+2 {
		return "", false, false
	}
	if s[0] == '[' {
		return scanIPv6Host(s)
	}
	name := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if !validPort(s[i+1:]) {
			return "", false, false
		}
		name = s[:i]
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > MaxHostLength {
		return "", false, false
	}
	upper := false
	labelLen := 0
	digitsOnly := true // the current label has digits only
	var prev byte = '.'
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z':
			digitsOnly = false
		case c >= '0' && c <= '9':
		case c >= 'A' && c <= 'Z':
			upper = true
			digitsOnly = false
		case c == '-':
			if prev == '.' {
				return "", false, false // label starts with '-'
			}
			digitsOnly = false
		case c == '.':
			if prev == '.' || prev == '-' {
				return "", false, false // empty label, or label ends with '-'
			}
			labelLen = 0
			digitsOnly = true
			prev = c
			continue
		default:
			return "", false, false // ':' left over, spaces, '/', '@', non-ASCII, ...
		}
		labelLen++
		if labelLen > 63 {
			return "", false, false
		}
		prev = c
	}
	if prev == '-' || prev == '.' {
		return "", false, false // last label ends with '-', or is empty ("a.b..")
	}
	if digitsOnly {
		// A numeric top label is no DNS name: it must be an IPv4 address
		// (netip refuses leading zeros and short forms like "1.2.3", so
		// what it accepts is already canonical).
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is4() {
			return "", false, false
		}
		return name, false, true
	}
	if hexLabel(name[strings.LastIndexByte(name, '.')+1:]) {
		return "", false, false // browsers read it as an IPv4 number
	}
	return name, upper, true
}

// hexLabel tells a label "0x" followed by hex digits, any case.
func hexLabel(l string) bool {
	if len(l) < 2 || l[0] != '0' || l[1] != 'x' && l[1] != 'X' {
		return false
	}
	for i := 2; i < len(l); i++ {
		c := l[i] | 0x20
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// scanIPv6Host handles "[addr]" and "[addr]:port".
func scanIPv6Host(s string) (raw string, rewrite, ok bool) {
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", false, false
	}
	if rest := s[end+1:]; rest != "" {
		if rest[0] != ':' || !validPort(rest[1:]) {
			return "", false, false
		}
	}
	inner := s[1:end]
	if strings.IndexByte(inner, '%') >= 0 {
		return "", false, false // a zone means nothing to anybody but this machine
	}
	a, err := netip.ParseAddr(inner)
	if err != nil || !a.Is6() {
		return "", false, false
	}
	// Clients send the canonical form, so compare it on the stack and
	// return the matching end of s; it is the whole address, or the IPv4
	// tail of "::ffff:10.0.0.1". The longest form is 39 bytes (no zones).
	var buf [64]byte
	canon := a.Unmap().AppendTo(buf[:0])
	if n := len(inner) - len(canon); n >= 0 && inner[n:] == string(canon) {
		return inner[n:], false, true
	}
	return inner, true, true
}

// appendNormalHost appends the normal form of raw, a host scanHost asked
// to rewrite, to dst.
func appendNormalHost(dst []byte, raw string) []byte {
	if strings.IndexByte(raw, ':') >= 0 { // names never hold ':'
		a, _ := netip.ParseAddr(raw) // scanHost parsed it already
		return a.Unmap().AppendTo(dst)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
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
