// Package ports hands out free loopback TCP ports to tests.
package ports

import (
	"errors"
	"net"
	"sync"
)

// handedOut remembers the ports Free returned in this test binary. The
// kernel may give the same ephemeral port to two binds in a row once the
// first listener is closed, and two "free" ports that are the same make a
// test fail for no reason of its own (this happened: the public and admin
// listeners of one waitingroom got one port). Process-wide on purpose:
// the ports are.
var handedOut sync.Map

// Free returns a loopback TCP port that was free a moment ago and that
// Free has not returned before in this process. Whoever binds it may still
// lose a race with another process, and should retry with another port.
func Free() (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, dup := handedOut.LoadOrStore(port, true); !dup {
			return port, nil
		}
	}
	return 0, errors.New("the kernel kept handing out ports this test binary already uses")
}
