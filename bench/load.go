package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitingroom/waitingroom/internal/sleep"
)

// ioTimeout bounds one request on a load connection: a server that stops
// answering fails the run instead of hanging it.
const ioTimeout = 10 * time.Second

// maxErrors stops a load run that only produces errors.
const maxErrors = 1000

// Load is a closed- or open-loop HTTP/1.1 load on a fixed set of keep-alive
// connections, each driven by its own goroutine. It is bounded in count
// (MaxRequests) and time (Warmup+Duration) and targets loopback only.
type Load struct {
	// Addrs are host:port targets; connection i goes to Addrs[i%len].
	Addrs []string
	// Request is the raw request, written as is on every round trip.
	Request []byte
	// Conns is the number of keep-alive connections.
	Conns int
	// Warmup runs before latencies are recorded; Duration is measured.
	Warmup, Duration time.Duration
	// MaxRequests bounds the measured requests over all connections.
	MaxRequests int
	// Rate, when above zero, paces the load open-loop at this many
	// requests per second over all connections, latency counted from each
	// request's scheduled time (so a stalled server is not flattered).
	// Zero: every connection sends as fast as answers come back.
	Rate float64
	// WantStatus is the status every answer must have.
	WantStatus int
}

// LoadResult is what one run measured.
type LoadResult struct {
	Requests  int           // answered in the measured window
	Errors    int           // transport errors (and reconnects)
	BadStatus int           // answers with another status than WantStatus
	Elapsed   time.Duration // the measured window
	Latency   Percentiles
	latencies []time.Duration // sorted; for pooling rounds
}

// RPS is answered requests per second over the measured window.
func (r LoadResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentiles summarises recorded latencies.
type Percentiles struct {
	N                       int
	P50, P90, P95, P99, Max time.Duration
	Mean                    time.Duration
}

// percentiles sorts ds in place.
func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(ds))+0.5) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Percentiles{
		N: len(ds), P50: at(0.50), P90: at(0.90), P95: at(0.95), P99: at(0.99), Max: ds[len(ds)-1],
		Mean: sum / time.Duration(len(ds)),
	}
}

// Run drives the load until Duration has been measured, MaxRequests are
// answered, or ctx ends.
func (l Load) Run(ctx context.Context) (LoadResult, error) {
	if len(l.Addrs) == 0 || l.Conns <= 0 || len(l.Request) == 0 || l.Duration <= 0 {
		return LoadResult{}, errors.New("load: addresses, connections, request and duration are required")
	}
	if l.MaxRequests <= 0 {
		l.MaxRequests = 5_000_000
	}
	perConn := max(l.MaxRequests/l.Conns, 1)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		measuring atomic.Bool
		errCount  atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex
		all       []time.Duration
		answered  int
		bad       int
		firstErr  error
	)
	start := time.Now()
	var interval time.Duration // per connection, open loop
	if l.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(l.Conns) / l.Rate)
	}
	for i := range l.Conns {
		wg.Go(func() {
			w := loadWorker{addr: l.Addrs[i%len(l.Addrs)], req: l.Request}
			defer w.close()
			lat := make([]time.Duration, 0, min(perConn, 1<<16))
			n, nbad := 0, 0
			next := start.Add(time.Duration(i) * interval / time.Duration(l.Conns))
			for ctx.Err() == nil && n < perConn {
				sent := time.Now()
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						t := time.NewTimer(d)
						select {
						case <-ctx.Done():
							t.Stop()
						case <-t.C:
						}
						if ctx.Err() != nil {
							break
						}
					}
					sent = next
					next = next.Add(interval)
				}
				status, err := w.roundTrip()
				took := time.Since(sent)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					if errCount.Add(1) >= maxErrors {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("load on %s: %d errors, last: %w", w.addr, maxErrors, err)
						}
						mu.Unlock()
						cancel()
					}
					continue
				}
				if measuring.Load() {
					lat = append(lat, took)
					n++
					if l.WantStatus != 0 && status != l.WantStatus {
						nbad++
					}
				}
			}
			mu.Lock()
			all = append(all, lat...)
			answered += n
			bad += nbad
			mu.Unlock()
		})
	}

	var elapsed time.Duration
	if sleep.For(ctx, l.Warmup) == nil {
		measuring.Store(true)
		began := time.Now()
		_ = sleep.For(ctx, l.Duration)
		elapsed = time.Since(began)
		measuring.Store(false)
	}
	cancel()
	wg.Wait()
	res := LoadResult{Requests: answered, Errors: int(errCount.Load()), BadStatus: bad, Elapsed: elapsed,
		Latency: percentiles(all), latencies: all}
	if firstErr != nil {
		return res, firstErr
	}
	if elapsed == 0 {
		return res, fmt.Errorf("load cut short: %w", context.Cause(ctx))
	}
	if answered == 0 {
		return res, fmt.Errorf("load on %v: no request answered (%d errors)", l.Addrs, res.Errors)
	}
	return res, nil
}

// loadWorker owns one keep-alive connection, redialled after errors.
type loadWorker struct {
	addr string
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

func (w *loadWorker) roundTrip() (int, error) {
	if w.conn == nil {
		c, err := net.DialTimeout("tcp", w.addr, ioTimeout)
		if err != nil {
			return 0, err
		}
		w.conn = c
		if w.br == nil {
			w.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			w.br.Reset(c)
		}
	}
	_ = w.conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := w.conn.Write(w.req); err != nil {
		w.close()
		return 0, err
	}
	status, keep, err := readResponse(w.br)
	if err != nil {
		w.close()
		return 0, err
	}
	if !keep {
		w.close()
	}
	return status, nil
}

func (w *loadWorker) close() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}

// readResponse reads one HTTP/1.1 response (Content-Length or chunked
// body), discarding the body without allocating, and reports its status and
// whether the connection may be reused.
func readResponse(br *bufio.Reader) (status int, keepAlive bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 503 Service Unavailable\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	keepAlive = true
	length, chunked := -1, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keepAlive = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = discardChunked(br)
	case length >= 0:
		_, err = br.Discard(length)
	default:
		// No length: the body runs to the end of the connection.
		_, err = io.Copy(io.Discard, br)
		keepAlive = false
	}
	return status, keepAlive, err
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(line), 16, 64)
		if err != nil {
			return fmt.Errorf("malformed chunk size %q", line)
		}
		if n == 0 {
			// Trailers, then the empty line.
			for {
				t, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

// httpRequest builds a raw HTTP/1.1 request. headers are name, value pairs.
func httpRequest(method, path, host string, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// browserHeaders are what a browser sends for a page; the crowd is people.
var browserHeaders = []string{
	"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
	"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
	"Accept-Language", "en-US,en;q=0.9",
}
