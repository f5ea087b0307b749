package guard

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	c := NewClientIP(mustPrefixes(t, "127.0.0.1", "10.0.0.0/8", "::1/128", "fd00::/8"))
	tests := []struct {
		name    string
		remote  string
		headers []string
		want    string // "" : the zero Addr
	}{
		{"no headers", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"spoofed XFF from an untrusted peer is ignored", "203.0.113.9:5000",
			[]string{"X-Forwarded-For", "198.51.100.1"}, "203.0.113.9"},
		{"spoofed X-Real-Ip from an untrusted peer is ignored", "203.0.113.9:5000",
			[]string{"X-Real-Ip", "198.51.100.1"}, "203.0.113.9"},
		{"XFF from a trusted proxy is honoured", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "198.51.100.1"}, "198.51.100.1"},
		{"X-Real-Ip from a trusted proxy is honoured", "10.1.2.3:40000",
			[]string{"X-Real-Ip", "198.51.100.1"}, "198.51.100.1"},
		{"XFF wins over X-Real-Ip", "10.1.2.3:40000",
			[]string{"X-Real-Ip", "198.51.100.7", "X-Forwarded-For", "198.51.100.1"}, "198.51.100.1"},
		{"two X-Real-Ip lines are believed neither", "10.1.2.3:40000",
			[]string{"X-Real-Ip", "198.51.100.7", "X-Real-Ip", "198.51.100.8"}, "10.1.2.3"},
		{"client's own XFF entry left of the proxy's is ignored", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"multi-hop: trusted hops skipped right to left", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "1.1.1.1, 198.51.100.1, 10.0.0.5, 10.9.9.9"}, "198.51.100.1"},
		{"multi-hop across header lines", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "1.1.1.1, 198.51.100.1", "X-Forwarded-For", "10.0.0.5"}, "198.51.100.1"},
		{"all hops trusted: leftmost", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "10.0.0.7, 10.0.0.5"}, "10.0.0.7"},
		{"ports and spaces", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "  198.51.100.1:4711 ,\t10.0.0.5:80  "}, "198.51.100.1"},
		{"IPv6 with brackets and port", "[::1]:40000",
			[]string{"X-Forwarded-For", "[2001:db8::7]:443, [fd00::1]"}, "2001:db8::7"},
		{"IPv6 bare", "[::1]:40000",
			[]string{"X-Forwarded-For", "2001:db8::7"}, "2001:db8::7"},
		{"IPv4-mapped peer is trusted as IPv4", "[::ffff:127.0.0.1]:40000",
			[]string{"X-Forwarded-For", "::ffff:198.51.100.1"}, "198.51.100.1"},
		{"zone dropped", "[::1]:40000",
			[]string{"X-Forwarded-For", "fe80::1%eth0"}, "fe80::1"},
		{"garbage stops the walk at the last good hop", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "198.51.100.1, not-an-ip, 10.0.0.5"}, "10.0.0.5"},
		{"garbage right at the proxy: the proxy", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "198.51.100.1, unknown"}, "127.0.0.1"},
		{"obfuscated node stops the walk", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "198.51.100.1, _hidden"}, "127.0.0.1"},
		{"bracketed IPv4 is garbage", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "[198.51.100.1]"}, "127.0.0.1"},
		{"bad port is garbage", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "198.51.100.1:99999"}, "127.0.0.1"},
		{"empty entries skipped", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", "198.51.100.1, , ,"}, "198.51.100.1"},
		{"empty header", "127.0.0.1:40000",
			[]string{"X-Forwarded-For", ""}, "127.0.0.1"},
		{"garbage X-Real-Ip: the peer", "10.1.2.3:40000",
			[]string{"X-Real-Ip", "client"}, "10.1.2.3"},
		{"peer without port", "203.0.113.9", nil, "203.0.113.9"},
		{"unparsable peer", "@", []string{"X-Forwarded-For", "198.51.100.1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.IP(request(tt.remote, tt.headers...))
			var want netip.Addr
			if tt.want != "" {
				want = mustAddr(t, tt.want)
			}
			if got != want {
				t.Errorf("IP = %v, want %v", got, want)
			}
		})
	}
}

func TestClientIPTrustsNobodyWithoutProxies(t *testing.T) {
	c := NewClientIP(nil)
	r := request("127.0.0.1:1", "X-Forwarded-For", "198.51.100.1", "X-Real-Ip", "198.51.100.2")
	if got := c.IP(r); got != mustAddr(t, "127.0.0.1") {
		t.Errorf("IP = %v, want the peer", got)
	}
}

func TestClientIPMappedTrustedPrefix(t *testing.T) {
	c := NewClientIP(mustPrefixes(t, "::ffff:10.0.0.0/104"))
	if !c.Trusted(mustAddr(t, "10.2.3.4")) {
		t.Error("10.2.3.4 not trusted under ::ffff:10.0.0.0/104")
	}
}

func TestParseTrustedProxies(t *testing.T) {
	ps, err := ParseTrustedProxies([]string{"127.0.0.1", "10.0.0.0/8", " ::1 "})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1/32", "10.0.0.0/8", "::1/128"}
	for i, p := range ps {
		if p.String() != want[i] {
			t.Errorf("prefix %d = %v, want %s", i, p, want[i])
		}
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/8", "proxy.local"}); err == nil {
		t.Error("a host name was accepted as a trusted proxy")
	}
}

func TestClientIPDoesNotAllocate(t *testing.T) {
	c := NewClientIP(mustPrefixes(t, "127.0.0.1", "10.0.0.0/8", "::1"))
	reqs := map[string]*http.Request{
		"untrusted": request("203.0.113.9:5000", "X-Forwarded-For", "198.51.100.1"),
		"xff":       request("127.0.0.1:5000", "X-Forwarded-For", "1.1.1.1, 198.51.100.1:80, 10.0.0.5"),
		"ipv6":      request("[::1]:5000", "X-Forwarded-For", "[2001:db8::7]:443"),
		"real-ip":   request("127.0.0.1:5000", "X-Real-Ip", "198.51.100.1"),
	}
	for name, r := range reqs {
		if n := testing.AllocsPerRun(100, func() { _ = c.IP(r) }); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}
