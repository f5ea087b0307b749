package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// captured is one answer of waitingroom, replayed byte for byte (but for
// Date, which net/http adds to both) by the baseline server.
type captured struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// capture sends req (raw HTTP/1.1) to addr and keeps the answer.
func capture(addr string, req []byte) (captured, error) {
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return captured{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(req); err != nil {
		return captured{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return captured{}, fmt.Errorf("capture answer of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return captured{}, err
	}
	h := resp.Header.Clone()
	h.Del("Date")
	return captured{Status: resp.StatusCode, Header: h, Body: body}, nil
}

// startBaseline runs the baseline server answering with ans.
func (e *env) startBaseline(ans captured) (string, error) {
	b, err := json.Marshal(ans)
	if err != nil {
		return "", err
	}
	file := filepath.Join(e.dir, fmt.Sprintf("baseline-%d.json", e.seq.Add(1)))
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	p, err := e.startProcess("baseline", e.bins.Baseline, "--addr", addr, "--response", file)
	if err != nil {
		return "", err
	}
	if err := waitFor(e.ctx, 10*time.Second, p, "baseline listening", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		return "", err
	}
	return addr, nil
}
