// Package hostname is the one rule for what a registered hostname is: the
// configuration file, Docker labels and the heartbeat path check names
// with it, and the public listener's zero-allocation Host scanner is
// fuzzed against it.
package hostname

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

// MaxLength is the longest name DNS allows (RFC 1035, without the root dot).
const MaxLength = 253

// Check validates a hostname registered by the operator (in the YAML
// file, or in a Docker label) and returns its canonical form: lower case,
// without a trailing dot. A port is refused: hosts are matched without
// it, so writing one would suggest a distinction that does not exist. IP literals, wildcards,
// spaces, non-ASCII (use punycode, xn--...), labels longer than 63 bytes and
// names longer than 253 are refused, with a reason the operator can act on.
//
// It is for configuration only; parsing a request's Host header belongs to
// the web layer, which must produce the same canonical form.
func Check(s string) (string, error) {
	if s == "" {
		return "", errors.New("hostname is empty")
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return "", errors.New("hostname contains a space")
	}
	if strings.HasPrefix(s, "[") {
		return "", errors.New("IP addresses are not hostnames; register the name clients use")
	}
	if strings.Contains(s, "://") || strings.Contains(s, "/") {
		return "", errors.New("write the hostname alone, without scheme or path (app.example.com)")
	}
	name := strings.ToLower(s)
	if strings.Count(name, ":") > 1 {
		return "", errors.New("IP addresses are not hostnames; register the name clients use")
	}
	if h, _, ok := strings.Cut(name, ":"); ok {
		// A port is not part of the name a request is routed by: clients
		// send it in Host only for non-default ports, and it is dropped
		// before lookup.
		return "", fmt.Errorf("a port is not part of a hostname: requests for every port are matched by the name alone; write %q", strings.TrimSuffix(h, "."))
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "", errors.New("hostname is empty")
	}
	if strings.Contains(name, "*") {
		return "", errors.New("wildcards are not supported; register each hostname")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "", errors.New("IP addresses are not hostnames; register the name clients use")
	}
	for _, r := range name {
		if r > unicode.MaxASCII {
			return "", errors.New("non-ASCII hostname; write it in punycode (xn--...)")
		}
	}
	if len(name) > MaxLength {
		return "", fmt.Errorf("hostname is %d characters long; the limit is %d", len(name), MaxLength)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "", errors.New("hostname has an empty label (two dots in a row, or a leading dot)")
		case len(l) > 63:
			return "", fmt.Errorf("label %q is %d characters long; the limit is 63", l[:20]+"…", len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return "", fmt.Errorf("label %q starts or ends with a hyphen", l)
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("hostname contains %q; only letters, digits, hyphens and dots are allowed", string(c))
			}
		}
	}
	// Browsers read a name whose last label is numeric as an IPv4 address
	// (1.2.3 is 1.2.0.3), so it can never arrive as a Host.
	if last := labels[len(labels)-1]; isDigits(last) || isHexNumber(last) {
		return "", errors.New("hostname looks like an IP address (its last label is a number)")
	}
	return name, nil
}

func isHexNumber(s string) bool {
	rest, ok := strings.CutPrefix(s, "0x")
	return ok && strings.Trim(rest, "0123456789abcdef") == ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
