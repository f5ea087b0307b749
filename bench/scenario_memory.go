package bench

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/internal/sleep"
)

// scenarioMemory is scenario 5: the resident memory of a waitingroom with
// 10,000 hosts in its configuration while 5,000 event streams are open
// (a crowd waiting on many sleeping hosts).
func (e *env) scenarioMemory() ([]Row, error) {
	nHosts := size(e, 10_000, 100)
	nStreams := size(e, 5_000, 50)
	streamHosts := size(e, 500, 10) // streams spread over this many hosts
	closed, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var yaml strings.Builder
	for i := range nHosts {
		yaml.WriteString(sleepingHostYAML(fmt.Sprintf("h%05d.bench.test", i), closed))
	}
	w, err := e.startWaitingroom("", "", yaml.String())
	if err != nil {
		return nil, err
	}
	defer w.proc.kill()
	// Let the boot reconcile of every host finish and the heap settle.
	if err := e.waitState(w, fmt.Sprintf("h%05d.bench.test", nHosts-1), "unknown", 30*time.Second); err != nil {
		return nil, err
	}
	settle := func() (int, error) {
		prev := 0
		var cur int
		for range 20 { // until two readings 250 ms apart agree within 1%
			if sleep.For(e.ctx, 250*time.Millisecond) != nil {
				return 0, e.ctx.Err()
			}
			var err error
			if cur, err = rssKB(w.proc.pid()); err != nil {
				return 0, err
			}
			if prev > 0 && abs(cur-prev)*100 <= prev {
				break
			}
			prev = cur
		}
		return cur, nil
	}
	idle, err := settle()
	if err != nil {
		return nil, err
	}

	e.progress("  opening %d event streams", nStreams)
	conns, err := openStreams(w.public, nStreams, streamHosts)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	withStreams, err := settle()
	if err != nil {
		return nil, err
	}
	if w.proc.exited() {
		return nil, fmt.Errorf("waitingroom exited (%s) with %d streams open:\n%s", w.proc.state(), nStreams, w.proc.tail())
	}
	e.detail("5: RSS with %d hosts: %s idle, %s with %d open event streams (%.1f KB per stream)",
		nHosts, fmtMB(idle), fmtMB(withStreams), nStreams, float64(withStreams-idle)/float64(nStreams))
	return []Row{{
		Scenario: fmt.Sprintf("5 resident memory, %s hosts, %s open SSE", groupThousands(int64(nHosts)), groupThousands(int64(nStreams))),
		Target:   "≤ 150 MB RSS",
		Measured: fmt.Sprintf("%s RSS (%s before the streams)", fmtMB(withStreams), fmtMB(idle)),
		Baseline: "—",
		Ratio:    fmtRatio(float64(withStreams) / (150 * 1024)),
		Verdict:  verdict(withStreams <= 150*1024),
	}}, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// openStreams opens n event streams spread over the first `hosts` hosts,
// each read until its first event arrives and then held open without
// reading (a browser tab that waits). Connections opened so far are
// returned even on error, for the caller to close.
func openStreams(addr string, n, hosts int) ([]net.Conn, error) {
	var (
		mu       sync.Mutex
		conns    = make([]net.Conn, 0, n)
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	for range 64 {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for i := range next {
				c, err := openStream(addr, fmt.Sprintf("h%05d.bench.test", i%hosts), buf)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("event stream %d: %w", i, err)
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, firstErr
}

func openStream(addr, host string, buf []byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	req := "GET /.waitingroom/events HTTP/1.1\r\nHost: " + host + "\r\nAccept: text/event-stream\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, err
	}
	var got []byte
	for !bytes.Contains(got, []byte("\ndata:")) {
		k, err := c.Read(buf)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("before the first event: %w (read %q)", err, got)
		}
		got = append(got, buf[:k]...)
		if !bytes.HasPrefix(got, []byte("HTTP/1.1 200")) && len(got) >= 12 {
			c.Close()
			return nil, fmt.Errorf("answer %q", firstLineBytes(got))
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func firstLineBytes(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(b))
}
