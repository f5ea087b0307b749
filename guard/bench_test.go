package guard

import (
	"net/http"
	"testing"

	"github.com/waitingroom/waitingroom/internal/clientclass"
	"github.com/waitingroom/waitingroom/store/memory"
)

func BenchmarkClientIP(b *testing.B) {
	c := NewClientIP(mustPrefixes(b, "127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"))
	cases := []struct {
		name string
		r    *http.Request
	}{
		{"direct", request("203.0.113.9:5000", "X-Forwarded-For", "198.51.100.1")},
		{"xff-3-hops", request("127.0.0.1:5000", "X-Forwarded-For", "1.1.1.1, 198.51.100.1:80, 10.0.0.5")},
		{"xff-ipv6", request("[::1]:5000", "X-Forwarded-For", "[2001:db8::7]:443, fd00::1")},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.IP(tc.r)
			}
		})
	}
}

func BenchmarkClassify(b *testing.B) {
	c := clientclass.New(clientclass.Options{BotUserAgents: []string{"AcmeFetcher"}, MonitorPaths: []string{"/healthz"}})
	cases := []struct {
		name string
		r    *http.Request
	}{
		{"browser", request("203.0.113.9:1", "User-Agent", chromeUA, "Accept", htmlAcc)},
		{"crawler", request("203.0.113.9:1", "User-Agent", crawlerUAs[0], "Accept", htmlAcc)},
		{"monitor", request("203.0.113.9:1", "User-Agent", monitorUAs[0], "Accept", htmlAcc)},
		{"api", request("203.0.113.9:1", "User-Agent", "curl/8.5.0", "Accept", "*/*")},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.Classify(tc.r)
			}
		})
	}
}

func BenchmarkClientKey(b *testing.B) {
	h := NewHasher(testKey, nil)
	a := mustAddr(b, "203.0.113.77")
	b.ReportAllocs()
	for b.Loop() {
		_ = h.ClientKey(a)
	}
}

func BenchmarkAllowWakeMemory(b *testing.B) {
	st := memory.New(nil)
	h := NewHasher(testKey, nil)
	budgets := NewBudgets(st, BudgetOptions{ClientPerHour: 1 << 30, PrefixPerHour: 1 << 30, Hasher: h, Logger: quiet}, nil)
	hst := host("app.example.com", 0, 0)
	c := clientFor(h, mustAddr(b, "203.0.113.77"))
	b.ReportAllocs()
	for b.Loop() {
		if err := budgets.AllowWake(b.Context(), hst, c); err != nil {
			b.Fatal(err)
		}
	}
}
