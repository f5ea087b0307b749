package guard

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP finds the address of the client behind a request. Only the
// connection's peer is known for certain; forwarding headers are believed
// only when that peer is a trusted proxy, because any client can write
// them. Safe for concurrent use; it is immutable after NewClientIP.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP returns a ClientIP that believes X-Forwarded-For and
// X-Real-Ip from peers inside trusted (the trusted_proxies setting) only.
// IPv4-mapped IPv6 prefixes are stored as IPv4, so ::ffff:10.0.0.0/104
// and 10.0.0.0/8 mean the same.
func NewClientIP(trusted []netip.Prefix) *ClientIP {
	c := &ClientIP{trusted: make([]netip.Prefix, 0, len(trusted))}
	for _, p := range trusted {
		if !p.IsValid() {
			continue
		}
		a := p.Addr().WithZone("")
		bits := p.Bits()
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		c.trusted = append(c.trusted, netip.PrefixFrom(a, bits).Masked())
	}
	return c
}

// ParseTrustedProxies turns the trusted_proxies setting (CIDR ranges or
// single addresses) into prefixes for NewClientIP.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %q is neither an IP address nor a CIDR range like 10.0.0.0/8", i, s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Trusted reports whether a is inside a trusted proxy range.
func (c *ClientIP) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// IP returns the client's address: the connection's peer, unless the peer
// is a trusted proxy. Then X-Forwarded-For is read from right to left
// (the nearest hop first, across all header lines), skipping trusted
// hops: the first untrusted hop is the client; when every hop is trusted,
// the leftmost is. Without X-Forwarded-For, a single X-Real-Ip from a
// trusted peer is used. An entry that is not an address (garbage,
// "unknown", an obfuscated RFC 7239 node) ends the walk: nothing left of it
// can be believed, so the last good hop is the answer. Ports, brackets and
// surrounding spaces are accepted; IPv4-mapped addresses come back as
// IPv4, zones are dropped. The zero Addr means RemoteAddr was not an
// address (a unix socket, a test).
//
// IP does not allocate for IPv4 and zone-less IPv6 traffic.
func (c *ClientIP) IP(r *http.Request) netip.Addr {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok || !c.Trusted(peer) {
		return peer
	}
	// Direct map access: the keys are already canonical, and Values would
	// canonicalise them again.
	if xff := r.Header["X-Forwarded-For"]; len(xff) > 0 {
		return c.walkForwarded(xff, peer)
	}
	if xr := r.Header["X-Real-Ip"]; len(xr) == 1 {
		// Several X-Real-Ip lines are ambiguous (one may be the
		// client's own): believe none.
		if a, ok := parseHop(xr[0]); ok {
			return a
		}
	}
	return peer
}

// walkForwarded reads X-Forwarded-For right to left, starting from the
// trusted peer.
func (c *ClientIP) walkForwarded(lines []string, peer netip.Addr) netip.Addr {
	last := peer
	for i := len(lines) - 1; i >= 0; i-- {
		v := lines[i]
		end := len(v)
		for end >= 0 {
			start := strings.LastIndexByte(v[:end], ',') + 1
			entry := v[start:end]
			end = start - 1
			if isBlank(entry) {
				continue // "a, , b" or a trailing comma: nothing was said
			}
			a, ok := parseHop(entry)
			if !ok {
				return last
			}
			if !c.Trusted(a) {
				return a
			}
			last = a
		}
	}
	return last
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' {
			return false
		}
	}
	return true
}

// parseHop reads one address as proxies write it: "203.0.113.9",
// "203.0.113.9:5123", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443",
// with optional spaces or tabs around it.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	if s == "" {
		return netip.Addr{}, false
	}
	var a netip.Addr
	var err error
	switch {
	case s[0] == '[':
		if s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
			if err == nil && !a.Is6() {
				return netip.Addr{}, false // "[1.2.3.4]" is not how anyone writes IPv4
			}
		} else {
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(s)
			a = ap.Addr()
		}
	case strings.Count(s, ":") == 1:
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s) // IPv4 with a port
		a = ap.Addr()
	default:
		a, err = netip.ParseAddr(s)
	}
	if err != nil || !a.IsValid() {
		return netip.Addr{}, false
	}
	if a.Zone() != "" {
		a = a.WithZone("")
	}
	return a.Unmap(), true
}
