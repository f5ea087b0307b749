package guard

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	redisstore "github.com/waitingroom/waitingroom/store/redis"
)

// start is a fixed moment in the middle of a UTC day and hour.
var start = time.Date(2030, 6, 15, 10, 20, 0, 0, time.UTC)

var testKey = []byte("0123456789abcdef0123456789abcdef")

var quiet = slog.New(slog.DiscardHandler)

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("ParseAddr(%q): %v", s, err)
	}
	return a
}

func mustPrefixes(t testing.TB, list ...string) []netip.Prefix {
	t.Helper()
	ps, err := ParseTrustedProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// request builds a GET with the given peer and headers (name, value pairs;
// a name may repeat).
func request(remote string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func host(name string, perDay, perHour int) controller.Host {
	return controller.Host{Name: name, Provider: "fake", MaxWakesPerDay: perDay, MaxWakesPerHour: perHour}
}

// clientFor is the Client the web layer builds for a visitor at addr.
func clientFor(h *Hasher, addr netip.Addr) controller.Client {
	return controller.Client{Key: h.ClientKey(addr), Display: Truncate(addr), Class: string(ClassBrowser), Source: "page"}
}

// redisStore opens a store on srv under prefix, with the test's clock.
func redisStore(t testing.TB, srv *redistest.Server, prefix string, clock controller.Clock) *redisstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := redisstore.New(ctx, srv.URL(), redisstore.WithPrefix(prefix), redisstore.WithClock(clock), redisstore.WithLogger(quiet))
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var zeroAddr netip.Addr

// discard silences go-redis's own logger, which reports every failed dial
// of the Redis-down test on stderr; the tests check the errors themselves.
type discard struct{}

func (discard) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(discard{})
	os.Exit(m.Run())
}
