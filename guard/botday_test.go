package guard

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/clientclass"
	"github.com/waitingroom/waitingroom/internal/testutil/fake"
	"github.com/waitingroom/waitingroom/internal/testutil/redistest"
	"github.com/waitingroom/waitingroom/store/memory"
)

// TestSimulatedBotDay replays a day of hostile traffic against one
// sleeping host on a fast clock: a request every few minutes from random
// addresses all over the Internet, mostly crawlers and link previewers,
// some prefetches, HEAD requests and uptime monitors, and a share of bots
// that pretend to be Chrome. Each request goes through the whole guard:
// ClientIP (behind a trusted proxy), Hasher, Classify, WakeDecision and
// Budgets. The host sleeps again its idle timeout after every start and
// nothing else keeps it awake: the worst case for cost. The number of
// starts must stay within the host's budgets (per day and per hour), while
// without them it would have been many times more.
func TestSimulatedBotDay(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T, clock *fake.Clock) controller.Store
	}{
		{"memory", func(t *testing.T, clock *fake.Clock) controller.Store { return memory.New(clock) }},
		{"redis", func(t *testing.T, clock *fake.Clock) controller.Store {
			return redisStore(t, redistest.Start(t), "botday:", clock)
		}},
	}
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			const (
				perDay, perHour = 6, 2
				idleTimeout     = 5 * time.Minute
				maxRequests     = 5000 // bounds the loop whatever the clock does
			)
			day := time.Date(2030, 6, 15, 0, 0, 0, 0, time.UTC)
			clock := fake.NewClock(day)
			st := sc.open(t, clock)
			hasher := NewHasher(testKey, clock)
			budgets := NewBudgets(st, BudgetOptions{ClientPerHour: 5, PrefixPerHour: 20, Hasher: hasher, Logger: quiet}, clock)
			classifier := clientclass.New(clientclass.Options{})
			ips := NewClientIP(mustPrefixes(t, "10.0.0.0/8"))
			h := host("app.example.com", perDay, perHour)
			rng := rand.New(rand.NewPCG(8, 2030))

			var (
				requests, unbudgeted, starts     int
				byClass                          = map[Class]int{}
				byRefusal                        = map[string]int{}
				startsPerHour                    = map[int]int{}
				awakeUntil, unbudgetedAwakeUntil time.Time
			)
			for requests < maxRequests {
				clock.Advance(time.Duration(1+rng.IntN(6)) * time.Minute)
				now := clock.Now()
				if !now.Before(day.Add(24 * time.Hour)) {
					break
				}
				requests++
				r := botRequest(rng)
				class := classifier.Classify(r)
				byClass[class]++
				wake, _ := classifier.WakeDecision(class, r.Method)
				// The same day without budgets: every qualifying request
				// that finds the host asleep starts it.
				if wake && !now.Before(unbudgetedAwakeUntil) {
					unbudgeted++
					unbudgetedAwakeUntil = now.Add(idleTimeout)
				}
				if !wake || now.Before(awakeUntil) {
					continue // no wake, or the backend answers and waitingroom sees nothing
				}
				addr := ips.IP(r)
				cl := controller.Client{Key: hasher.ClientKey(addr), Display: Truncate(addr), Class: string(class), Source: "page"}
				err := budgets.AllowWake(t.Context(), h, cl)
				var be *controller.BudgetError
				switch {
				case err == nil:
					starts++
					startsPerHour[now.Hour()]++
					awakeUntil = now.Add(idleTimeout)
				case errors.As(err, &be):
					byRefusal[be.Budget]++
				default:
					t.Fatalf("request %d: %v", requests, err)
				}
			}
			t.Logf("%s: %d requests in 24h, classes %v; without budgets %d starts, with budgets %d (budget %d/day, %d/hour); refused by %v",
				sc.name, requests, byClass, unbudgeted, starts, perDay, perHour, byRefusal)
			if starts > perDay {
				t.Errorf("%d starts in a day, budget %d", starts, perDay)
			}
			for hour, n := range startsPerHour {
				if n > perHour {
					t.Errorf("%d starts in hour %d, budget %d", n, hour, perHour)
				}
			}
			if unbudgeted < 4*perDay {
				t.Errorf("only %d starts without budgets: the simulation does not test the budget", unbudgeted)
			}
			if starts < perDay {
				t.Errorf("only %d starts: the budget of %d should have been used up by a day of disguised bots", starts, perDay)
			}
		})
	}
}

// botRequest is one request of the bot day, arriving through the trusted
// proxy at 10.0.0.1 from a random address.
func botRequest(rng *rand.Rand) *http.Request {
	method := http.MethodGet
	headers := []string{"Accept", htmlAcc}
	switch p := rng.IntN(100); {
	case p < 55:
		headers = append(headers, "User-Agent", crawlerUAs[rng.IntN(len(crawlerUAs))])
	case p < 60:
		headers = append(headers, "User-Agent", monitorUAs[rng.IntN(len(monitorUAs))])
	case p < 65:
		headers = append(headers, "User-Agent", chromeUA, "Sec-Purpose", "prefetch")
	case p < 70:
		headers = append(headers, "User-Agent", chromeUA)
		method = http.MethodHead
	case p < 75:
		// no User-Agent at all
	default:
		headers = append(headers, "User-Agent", chromeUA) // a bot dressed as Chrome
	}
	var client netip.Addr
	if rng.IntN(4) == 0 {
		var b [16]byte
		b[0], b[1] = 0x20, 0x01
		for i := 2; i < 16; i++ {
			b[i] = byte(rng.IntN(256))
		}
		client = netip.AddrFrom16(b)
	} else {
		client = netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
	}
	r := httptest.NewRequest(method, "http://app.example.com/", nil)
	r.RemoteAddr = "10.0.0.1:443"
	r.Header.Set("X-Forwarded-For", fmt.Sprintf("%s, 10.0.0.1", client))
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}
