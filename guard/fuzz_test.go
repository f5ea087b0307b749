package guard

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP throws arbitrary peers and forwarding headers at ClientIP.
// Whatever arrives: no panic; an untrusted peer is the answer; otherwise
// the answer is the peer or an address written in the headers; it is
// never an IPv4-mapped address or one with a zone.
func FuzzClientIP(f *testing.F) {
	seeds := [][3]string{
		{"127.0.0.1:1", "198.51.100.1", ""},
		{"127.0.0.1:1", "1.1.1.1, 198.51.100.1:80, 10.0.0.5", ""},
		{"[::1]:1", "[2001:db8::7]:443, [fd00::1]", ""},
		{"[::ffff:127.0.0.1]:1", "::ffff:198.51.100.1", "198.51.100.2"},
		{"127.0.0.1:1", "fe80::1%eth0, garbage, , 10.1.1.1", ""},
		{"127.0.0.1:1", "", "198.51.100.9"},
		{"203.0.113.9:5", "198.51.100.1", "198.51.100.2"},
		{"@", "1.2.3.4", ""},
		{"127.0.0.1:1", "[1.2.3.4]:80,[::1,::1]:,:80,1.2.3.4:", "[::1]"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	c := NewClientIP(mustPrefixes(f, "127.0.0.0/8", "10.0.0.0/8", "::1", "fd00::/8"))
	f.Fuzz(func(t *testing.T, remote, xff, realIP string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		r.Header["X-Forwarded-For"] = append(r.Header["X-Forwarded-For"], strings.Split(xff, "\n")...)
		if realIP != "" {
			r.Header["X-Real-Ip"] = []string{realIP}
		}
		got := c.IP(r)
		peer, peerOK := parseHop(remote)
		if !peerOK {
			if got.IsValid() {
				t.Fatalf("peer %q is no address, yet IP = %v", remote, got)
			}
			return
		}
		if !got.IsValid() {
			t.Fatalf("IP is the zero Addr for peer %q", remote)
		}
		if got.Is4In6() || got.Zone() != "" {
			t.Fatalf("IP = %v: mapped or zoned", got)
		}
		if !c.Trusted(peer) {
			if got != peer {
				t.Fatalf("untrusted peer %v, yet IP = %v (headers believed)", peer, got)
			}
			return
		}
		if got == peer {
			return
		}
		if !mentions(got, xff) && !mentions(got, realIP) {
			t.Fatalf("IP = %v appears in neither the peer %q nor the headers %q / %q", got, remote, xff, realIP)
		}
	})
}

// mentions reports whether some comma-separated entry of s parses to a.
func mentions(a netip.Addr, s string) bool {
	for _, line := range strings.Split(s, "\n") {
		for _, e := range strings.Split(line, ",") {
			if b, ok := parseHop(e); ok && b == a {
				return true
			}
		}
	}
	return false
}
