package activity

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/traefik"
)

// PIDer is implemented by providers whose backends run in their own network
// namespace on this machine (Docker containers): PID returns a process of
// the backend, whose /proc/PID/net/tcp lists the backend's own sockets.
// It returns an error when the backend is not running.
type PIDer interface {
	PID(ctx context.Context, t controller.Target) (int, error)
}

// ConnectionsOptions configure a Connections.
type ConnectionsOptions struct {
	// ProcRoot is where proc(5) is mounted (default /proc). In a container,
	// mount the host's at /host/proc and set it there to see containers.
	ProcRoot string
	// Provider finds a host's provider, to ask it for a PID when the
	// backend is not on a local address (controller.Registry.Provider).
	// Optional.
	Provider func(name string) (controller.Provider, bool)
	// Status returns the provider's last status of a host, to fill
	// {internal_ip} in the backend URL (controller.LastStatus). Optional.
	Status func(host string) (controller.Status, bool)
	// Baseline is how many established connections to a backend are not
	// use: a proxy's health-check connection kept alive, for example. The
	// host is busy while more than Baseline are open. Default 0.
	Baseline int
	// CacheFor is how long one reading of a connection table is reused
	// (default 1s): a sweep over many hosts reads each table once.
	CacheFor time.Duration
	// LocalAddrs lists this machine's addresses; default the addresses of
	// its interfaces.
	LocalAddrs func() ([]netip.Addr, error)
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now times the caches; default time.Now.
	Now func() time.Time
}

// Connections is a controller.BusyChecker that counts established TCP
// connections to a host's backend port: a WebSocket, an SSE stream or a
// two-hour download keeps the host busy however long ago its request
// started. Traefik cannot tell this (it has no per-service open-connection
// metric, and counts a request when it completes).
//
// It reads the kernel's connection table, so it sees only backends on this
// machine: a backend URL on a loopback or local address is read from this
// process's network namespace (/proc/net/tcp and tcp6); any other address
// is read from the backend's own namespace when its provider implements
// PIDer (/proc/PID/net/tcp). A remote VM's connections are invisible: use
// heartbeats or keep_awake_while there.
//
// It counts connections whose local port is the backend's port, from any
// client. Idle keep-alive connections a proxy pools (Traefik keeps them for
// its serversTransport idleConnTimeout, 90s by default) count too, and
// waitingroom's own probes are too short-lived to matter.
type Connections struct {
	procRoot   string
	provider   func(string) (controller.Provider, bool)
	status     func(string) (controller.Status, bool)
	baseline   int
	cacheFor   time.Duration
	localAddrs func() ([]netip.Addr, error)
	log        *slog.Logger
	now        func() time.Time

	mu     sync.Mutex
	tables map[string]tableReading // by namespace ("self" or a PID)
	locals localReading
}

type tableReading struct {
	at    time.Time
	ports map[uint16]int // established connections by local port
	err   error
}

type localReading struct {
	at    time.Time
	addrs []netip.Addr
}

var _ controller.BusyChecker = (*Connections)(nil)

// NewConnections builds a Connections.
func NewConnections(o ConnectionsOptions) *Connections {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.CacheFor <= 0 {
		o.CacheFor = time.Second
	}
	if o.LocalAddrs == nil {
		o.LocalAddrs = interfaceAddrs
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Connections{
		procRoot: o.ProcRoot, provider: o.Provider, status: o.Status, baseline: max(0, o.Baseline),
		cacheFor: o.CacheFor, localAddrs: o.LocalAddrs, log: o.Logger, now: o.Now,
		tables: map[string]tableReading{},
	}
}

// ErrNotVisible: the backend's connections cannot be read from this
// machine (a remote backend, or a provider without PIDer).
var ErrNotVisible = errors.New("backend connections are not visible from this machine")

// Busy reports the host busy while more than Baseline connections to its
// backend port are established.
func (c *Connections) Busy(ctx context.Context, h controller.Host, _ time.Time) (bool, string) {
	n, where, err := c.Count(ctx, h)
	if err != nil {
		if !errors.Is(err, ErrNotVisible) {
			c.log.Debug("counting backend connections failed", "host", h.Name, "err", err)
		}
		return false, ""
	}
	if n <= c.baseline {
		return false, ""
	}
	noun := "connections"
	if n == 1 {
		noun = "connection"
	}
	return true, fmt.Sprintf("%d open %s to %s", n, noun, where)
}

// Count returns how many TCP connections to the host's backend port are
// established, and where it looked ("port 8080", "port 80 in pid 4242").
func (c *Connections) Count(ctx context.Context, h controller.Host) (int, string, error) {
	addr, port, err := c.backend(h)
	if err != nil {
		return 0, "", err
	}
	ns := "self"
	where := "port " + strconv.Itoa(int(port))
	if !c.isLocal(addr) {
		pid, err := c.pid(ctx, h)
		if err != nil {
			return 0, "", err
		}
		ns = strconv.Itoa(pid)
		where += " in pid " + ns
	}
	ports, err := c.table(ns)
	if err != nil {
		return 0, "", err
	}
	return ports[port], where, nil
}

// backend finds the address and port real traffic goes to: the host's
// Traefik url, else its ready_url.
func (c *Connections) backend(h controller.Host) (string, uint16, error) {
	raw := traefik.HostOptionsOf(h).URL
	if raw == "" {
		raw = h.ReadyURL
	}
	if raw == "" {
		return "", 0, fmt.Errorf("host %s has no url or ready_url: %w", h.Name, ErrNotVisible)
	}
	if strings.Contains(raw, "{internal_ip}") || strings.Contains(raw, "{external_ip}") {
		var st controller.Status
		if c.status != nil {
			st, _ = c.status(h.Name)
		}
		expanded, err := controller.ExpandReadyURL(raw, st)
		if err != nil {
			return "", 0, fmt.Errorf("host %s: %v: %w", h.Name, err, ErrNotVisible)
		}
		raw = expanded
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, fmt.Errorf("host %s: backend url: %w", h.Name, err)
	}
	p := u.Port()
	if p == "" {
		switch u.Scheme {
		case "https":
			p = "443"
		default:
			p = "80"
		}
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("host %s: backend port %q is not a port", h.Name, p)
	}
	return u.Hostname(), uint16(n), nil
}

func (c *Connections) isLocal(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false // a name: resolving it on every sweep is not worth it
	}
	a = a.Unmap()
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	for _, l := range c.local() {
		if l == a {
			return true
		}
	}
	return false
}

// local lists this machine's addresses, re-read every 30s (interfaces
// come and go rarely).
func (c *Connections) local() []netip.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locals.addrs != nil && c.now().Sub(c.locals.at) < 30*time.Second {
		return c.locals.addrs
	}
	addrs, err := c.localAddrs()
	if err != nil {
		c.log.Debug("listing local addresses failed", "err", err)
	}
	c.locals = localReading{at: c.now(), addrs: append([]netip.Addr{}, addrs...)}
	return c.locals.addrs
}

func (c *Connections) pid(ctx context.Context, h controller.Host) (int, error) {
	if c.provider == nil {
		return 0, fmt.Errorf("host %s: %w", h.Name, ErrNotVisible)
	}
	p, ok := c.provider(h.Provider)
	if !ok {
		return 0, fmt.Errorf("host %s: %w", h.Name, ErrNotVisible)
	}
	pider, ok := p.(PIDer)
	for !ok { // through decorators (metrics.WrapProvider)
		w, isWrapper := p.(interface{ Unwrap() controller.Provider })
		if !isWrapper {
			break
		}
		p = w.Unwrap()
		pider, ok = p.(PIDer)
	}
	if !ok {
		return 0, fmt.Errorf("host %s: provider %q cannot say which process runs the backend: %w", h.Name, h.Provider, ErrNotVisible)
	}
	pid, err := pider.PID(ctx, h.Target)
	if err != nil {
		return 0, fmt.Errorf("host %s: backend pid: %w", h.Name, err)
	}
	if pid <= 0 {
		return 0, fmt.Errorf("host %s: provider returned pid %d: %w", h.Name, pid, ErrNotVisible)
	}
	return pid, nil
}

// table reads the established connections of one network namespace.
func (c *Connections) table(ns string) (map[uint16]int, error) {
	c.mu.Lock()
	r, ok := c.tables[ns]
	c.mu.Unlock()
	if ok && c.now().Sub(r.at) < c.cacheFor {
		return r.ports, r.err
	}
	dir := filepath.Join(c.procRoot, "net")
	if ns != "self" {
		dir = filepath.Join(c.procRoot, ns, "net")
	}
	ports := map[uint16]int{}
	var errs []error
	read := 0
	for _, f := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) { // no IPv6 is fine
				errs = append(errs, err)
			}
			continue
		}
		read++
		if err := countEstablished(data, ports); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", filepath.Join(dir, f), err))
		}
	}
	var err error
	switch {
	case read == 0:
		err = errors.Join(append(errs, fmt.Errorf("no connection table under %s", dir))...)
	case len(errs) > 0:
		// One of tcp and tcp6 read: count what it holds.
		c.log.Debug("reading a connection table failed", "dir", dir, "err", errors.Join(errs...))
	}
	c.mu.Lock()
	if len(c.tables) >= 256 { // PIDs of backends gone by now
		clear(c.tables)
	}
	c.tables[ns] = tableReading{at: c.now(), ports: ports, err: err}
	c.mu.Unlock()
	return ports, err
}

// tcpEstablished is TCP_ESTABLISHED in the st column of /proc/net/tcp.
const tcpEstablished = "01"

// countEstablished adds the established sockets of a /proc/net/tcp{,6}
// table to ports, by local port:
//
//	sl  local_address rem_address   st tx_queue ...
//	0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 ...
func countEstablished(data []byte, ports map[uint16]int) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 512), 64<<10)
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != tcpEstablished {
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			continue
		}
		p, err := strconv.ParseUint(f[1][i+1:], 16, 16)
		if err != nil {
			continue
		}
		ports[uint16(p)]++
	}
	return sc.Err()
}

func interfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}
