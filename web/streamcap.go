package web

import (
	"net"
	"net/netip"
	"sync"

	"github.com/waitingroom/waitingroom/internal/rlimit"
)

// Defaults of the event stream caps.
const (
	// DefaultMaxStreamsPerClient: a person waits on a page or a few tabs;
	// an office behind one address on a few dozen. Past it, pages fall
	// back to polling /.waitingroom/status (wait.js), and without
	// JavaScript the meta refresh works as ever.
	DefaultMaxStreamsPerClient = 32
	// maxDefaultStreams bounds the default total: 10,000 streams are
	// ~65 MB (6.5 KB each, BENCHMARKS.md).
	maxDefaultStreams = 10000
)

// DefaultMaxStreams is the total cap on open event streams when none is
// configured: the open-file limit less a reserve, so that health checks,
// the store's connections, provider probes, exec pipes and ordinary page
// requests always find a file descriptor (at most maxDefaultStreams).
//
// The reserve is a quarter of the limit, at least 256: under a 1,024 limit
// 768 streams may be open. Without a known limit: 1,000.
func DefaultMaxStreams() int {
	soft, _, err := rlimit.Files()
	if err != nil || soft == 0 {
		return 1000
	}
	reserve := max(256, soft/4)
	if soft <= reserve {
		return 0
	}
	return int(min(soft-reserve, maxDefaultStreams))
}

// streamCaps counts the open event streams, per client (an IPv4 address or
// an IPv6 /64, as the login limit counts them: limitKey) and in total, and
// refuses one past either cap. The counts live in memory only and forget a
// client when its last stream ends.
type streamCaps struct {
	perClient, total int

	mu      sync.Mutex
	open    int
	clients map[string]int
}

func newStreamCaps(perClient, total int) *streamCaps {
	return &streamCaps{perClient: perClient, total: total, clients: map[string]int{}}
}

// Refusals of acquire: the HTTP status and the message.
const (
	streamsClientFull = "too many event streams from your address; the page checks its status by polling instead"
	streamsTotalFull  = "too many event streams open; the page checks its status by polling instead"
)

// acquire counts a stream of client in. When a cap is reached it returns
// ok false with the status to answer: 429 past the client's cap, 503 past
// the total. release must be called exactly once when the stream ends.
func (c *streamCaps) acquire(client netip.Addr) (release func(), status int, msg string) {
	key := limitKey(client)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clients[key] >= c.perClient {
		return nil, 429, streamsClientFull
	}
	if c.open >= c.total {
		return nil, 503, streamsTotalFull
	}
	c.clients[key]++
	c.open++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.open--
			if c.clients[key]--; c.clients[key] <= 0 {
				delete(c.clients, key)
			}
		})
	}, 0, ""
}

// counts reports the open streams in total and of client (tests).
func (c *streamCaps) counts(client netip.Addr) (total, ofClient int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.clients[limitKey(client)]
}

// countedConn releases its stream's slot when it is closed, however many
// times and by whom (the watcher, the host's writer, shutdown).
type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	c.release()
	return c.Conn.Close()
}
