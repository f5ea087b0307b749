package activity

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/hostname"
)

// SourceHeartbeat is the activity source heartbeats record.
const SourceHeartbeat = "heartbeat"

// HeartbeatPattern is the route the handler serves, for http.ServeMux.
// It has no method: the handler answers 405 itself, in JSON.
const HeartbeatPattern = "/api/hosts/{host}/touch"

// minTokenBytes is the shortest touch token accepted: a heartbeat token is
// a password for keeping a paid backend awake.
const minTokenBytes = 16

// Toucher records activity; *controller.Controller implements it.
type Toucher interface {
	Touch(ctx context.Context, host, source string) error
}

var _ Toucher = (*controller.Controller)(nil)

// HeartbeatOptions configure a Heartbeat.
type HeartbeatOptions struct {
	// Toucher records the heartbeat. Required.
	Toucher Toucher
	// Logger; default slog.Default(). Tokens are never logged.
	Logger *slog.Logger
	// Getenv and ReadFile read touch_token_env and touch_token_file;
	// defaults os.Getenv and os.ReadFile.
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// Heartbeat serves POST /api/hosts/{host}/touch: a backend doing work no
// request shows (a batch job, a queue consumer) keeps itself awake by
// calling it with its host's token as "Authorization: Bearer TOKEN".
// Answers: 204 recorded; 401 missing or wrong token; 404 unknown host or
// heartbeats not enabled for it; 405 not a POST; 503 the store failed.
// Errors are JSON {"error": "..."}.
type Heartbeat struct {
	toucher  Toucher
	log      *slog.Logger
	getenv   func(string) string
	readFile func(string) ([]byte, error)

	mu sync.RWMutex
	// hosts maps every registered host to the SHA-256 of its token; a nil
	// digest means heartbeats are not enabled (or the token could not be
	// read). Only digests are kept, so a token cannot leak from here into
	// a log or a dump.
	hosts map[string][]byte
}

var _ http.Handler = (*Heartbeat)(nil)

// NewHeartbeat builds the handler and loads the hosts' tokens. A token that
// cannot be read disables heartbeats for its host (they get 401) and is
// reported in the error; the handler is usable either way.
func NewHeartbeat(o HeartbeatOptions, hosts []controller.Host) (*Heartbeat, error) {
	if o.Toucher == nil {
		return nil, errors.New("heartbeat: Toucher is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	h := &Heartbeat{toucher: o.Toucher, log: o.Logger, getenv: o.Getenv, readFile: o.ReadFile}
	return h, h.Reload(hosts)
}

// Reload swaps in the tokens of a new set of hosts (a config reload, a
// rotated token file). The error names the hosts whose token could not be
// read; they refuse heartbeats until a later reload succeeds.
func (h *Heartbeat) Reload(hosts []controller.Host) error {
	next := make(map[string][]byte, len(hosts))
	var errs []error
	for _, host := range hosts {
		o := SettingsOf(host)
		token, err := h.token(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", host.Name, err))
			next[host.Name] = disabledDigest
			continue
		}
		if token == nil {
			next[host.Name] = nil
			continue
		}
		sum := sha256.Sum256(token)
		next[host.Name] = sum[:]
	}
	h.mu.Lock()
	h.hosts = next
	h.mu.Unlock()
	return errors.Join(errs...)
}

// disabledDigest marks a host whose token is configured but unreadable: it
// has heartbeats (401, not 404) but no token matches.
var disabledDigest = []byte{}

// token reads the host's token; nil without one configured.
func (h *Heartbeat) token(o HostSettings) ([]byte, error) {
	var raw []byte
	switch {
	case o.TouchTokenFile != "":
		b, err := h.readFile(o.TouchTokenFile)
		if err != nil {
			// The path is configuration, not secret.
			return nil, fmt.Errorf("touch_token_file %s: %w", o.TouchTokenFile, err)
		}
		raw = b
	case o.TouchTokenEnv != "":
		raw = []byte(h.getenv(o.TouchTokenEnv))
	default:
		return nil, nil
	}
	tok := []byte(strings.TrimSpace(string(raw)))
	switch {
	case len(tok) == 0:
		return nil, fmt.Errorf("touch token (%s) is empty", tokenOrigin(o))
	case len(tok) < minTokenBytes:
		return nil, fmt.Errorf("touch token (%s) is %d bytes; use at least %d, e.g. from `openssl rand -hex 32`",
			tokenOrigin(o), len(tok), minTokenBytes)
	}
	return tok, nil
}

func tokenOrigin(o HostSettings) string {
	if o.TouchTokenFile != "" {
		return "touch_token_file " + o.TouchTokenFile
	}
	return "touch_token_env " + o.TouchTokenEnv
}

// Enabled reports whether heartbeats are configured for host (dashboard).
func (h *Heartbeat) Enabled(host string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.hosts[host] != nil
}

// ServeHTTP handles POST /api/hosts/{host}/touch.
func (h *Heartbeat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		jsonError(w, http.StatusMethodNotAllowed, "use POST to send a heartbeat")
		return
	}
	name, ok := hostFromPath(r)
	if !ok {
		jsonError(w, http.StatusNotFound, "no such host")
		return
	}
	h.mu.RLock()
	digest, known := h.hosts[name]
	h.mu.RUnlock()
	switch {
	case !known:
		jsonError(w, http.StatusNotFound, "no such host")
		return
	case digest == nil:
		jsonError(w, http.StatusNotFound, "heartbeats are not enabled for this host (set touch_token_file or touch_token_env)")
		return
	}
	if !tokenMatches(r, digest) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="waitingroom heartbeat"`)
		jsonError(w, http.StatusUnauthorized, "missing or wrong token; send Authorization: Bearer TOKEN")
		return
	}
	if err := h.toucher.Touch(r.Context(), name, SourceHeartbeat); err != nil {
		if errors.Is(err, controller.ErrUnknownHost) {
			jsonError(w, http.StatusNotFound, "no such host")
			return
		}
		h.log.Warn("heartbeat not recorded", "host", name, "err", err)
		w.Header().Set("Retry-After", "5")
		jsonError(w, http.StatusServiceUnavailable, "the heartbeat could not be recorded; try again")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// tokenMatches compares the bearer token with the stored digest. Hashing
// first makes the comparison constant-time whatever the lengths.
func tokenMatches(r *http.Request, digest []byte) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || len(digest) != sha256.Size {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], digest) == 1
}

// hostFromPath reads {host}, from the mux's pattern when mounted with
// HeartbeatPattern, else from the path itself.
func hostFromPath(r *http.Request) (string, bool) {
	raw := r.PathValue("host")
	if raw == "" {
		rest, ok := strings.CutPrefix(r.URL.Path, "/api/hosts/")
		if !ok {
			return "", false
		}
		raw, ok = strings.CutSuffix(rest, "/touch")
		if !ok || strings.Contains(raw, "/") {
			return "", false
		}
	}
	name, err := hostname.Check(raw)
	if err != nil {
		return "", false
	}
	return name, true
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
