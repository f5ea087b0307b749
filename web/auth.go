package web

import (
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// User is a dashboard login: a name and a bcrypt hash of the password, as
// made by `waitingroom hash-password` (admin.users in the configuration).
type User struct {
	Name         string
	PasswordHash string
}

// Token is an API bearer token: its name (shown in logs and wake history)
// and its secret value.
type Token struct {
	Name  string
	Value string
}

// TokenSource says where a token's value is kept: a file or an environment
// variable (admin.tokens in the configuration). The value is never written
// in the configuration itself.
type TokenSource struct {
	Name string
	File string
	Env  string
}

// MinTokenLength is the shortest token accepted: a token is a password
// that scripts type, so it should be random and long.
const MinTokenLength = 16

// ReadTokens reads every token's value from its file or environment
// variable (getenv, normally os.Getenv). Surrounding white space (the
// newline most files end with) is not part of the value. Errors name the
// token and where it was looked for, never the value.
func ReadTokens(srcs []TokenSource, getenv func(string) string) ([]Token, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []error
	out := make([]Token, 0, len(srcs))
	for _, s := range srcs {
		var v, where string
		switch {
		case s.File != "":
			where = "file " + s.File
			b, err := readSecretFile(s.File)
			if err != nil {
				errs = append(errs, fmt.Errorf("admin token %q: %w", s.Name, err))
				continue
			}
			v = string(b)
		case s.Env != "":
			where = "environment variable " + s.Env
			v = getenv(s.Env)
		default:
			errs = append(errs, fmt.Errorf("admin token %q: set file or env", s.Name))
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case v == "":
			errs = append(errs, fmt.Errorf("admin token %q: %s is empty or unset", s.Name, where))
		case len(v) < MinTokenLength:
			errs = append(errs, fmt.Errorf("admin token %q from %s has %d characters; use at least %d random ones (openssl rand -hex 32)",
				s.Name, where, len(v), MinTokenLength))
		default:
			out = append(out, Token{Name: s.Name, Value: v})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// readSecretFile reads a small secret file; a large one is the wrong file.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 4097)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if n > 4096 {
		return nil, fmt.Errorf("%s is larger than 4 KiB; is it the right file?", path)
	}
	return b[:n], nil
}

// ReadSessionKey reads the key that signs session cookies
// (admin.session_key_file): at least 32 bytes of anything, such as the
// output of `openssl rand -hex 32`. Replicas behind one address share it so
// that a session works on each; keeping it across restarts keeps operators
// logged in.
func ReadSessionKey(path string) ([]byte, error) {
	b, err := readSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin.session_key_file: %w", err)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) < 32 {
		return nil, fmt.Errorf("admin.session_key_file %s: %d bytes; it needs at least 32 (openssl rand -hex 32 > %s)", path, len(b), path)
	}
	return b, nil
}

// CheckAdminExposure refuses an admin listener that other machines can
// reach while nobody needs to log in: anyone on the network could then
// stop every host. A loopback address without users or tokens is allowed
// (open access for the machine's own users).
func CheckAdminExposure(listen string, users, tokens int) error {
	if users > 0 || tokens > 0 || loopbackListen(listen) {
		return nil
	}
	return fmt.Errorf("admin.listen %q accepts connections from other machines, but neither admin.users nor admin.tokens is configured, "+
		"so anyone who reaches it could wake and stop hosts. Fix it in one of three ways: "+
		"listen on loopback only (admin: {listen: \"127.0.0.1:8081\"}); "+
		"add a dashboard user (admin: {users: [{name: you, password_hash: ...}]}, the hash from `waitingroom hash-password`); "+
		"or add an API token (admin: {tokens: [{name: ci, env: WAITINGROOM_TOKEN}]})", listen)
}

// loopbackListen tells whether a listen address accepts local connections
// only. ":8081" and "0.0.0.0:8081" listen everywhere.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	host = strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	return strings.EqualFold(host, "localhost")
}

// credentials are the users and tokens in force; a reload swaps them.
type credentials struct {
	users  map[string]string // name → bcrypt hash
	tokens []tokenDigest
	// decoy is compared against when the user name is unknown: a real
	// user's hash, so a wrong name costs as much as a wrong password and
	// the timing does not tell which names exist.
	decoy string
}

type tokenDigest struct {
	name   string
	digest [32]byte
}

func newCredentials(users []User, tokens []Token) *credentials {
	c := &credentials{users: make(map[string]string, len(users)), decoy: dummyHash}
	for _, u := range users {
		c.users[u.Name] = u.PasswordHash
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
			c.decoy = u.PasswordHash
		}
	}
	for _, t := range tokens {
		c.tokens = append(c.tokens, tokenDigest{name: t.Name, digest: sha256.Sum256([]byte(t.Value))})
	}
	return c
}

// open: nobody needs to log in (no users, no tokens).
func (c *credentials) open() bool { return len(c.users) == 0 && len(c.tokens) == 0 }

// token finds the token with this value, comparing with every token in
// constant time so the answer's timing says nothing about near misses.
func (c *credentials) token(value string) (string, bool) {
	d := sha256.Sum256([]byte(value))
	name, found := "", false
	for _, t := range c.tokens {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			name, found = t.name, true
		}
	}
	return name, found
}

// dummyHash is the decoy when no user is configured: bcrypt of a random
// string.
const dummyHash = "$2a$10$sMIRZf1HVv/g.OIS4c8xOeNqSXINB3e8FBmlY6j3I6fOeUJnts77y"

// checkPassword reports whether name and password match a user.
func (c *credentials) checkPassword(name, password string) bool {
	hash, ok := c.users[name]
	if !ok {
		hash = c.decoy
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	return ok && err == nil
}

// fingerprint ties a session to the user's password hash: changing the
// password (or removing the user) ends the user's sessions.
func (c *credentials) fingerprint(name string) (string, bool) {
	hash, ok := c.users[name]
	if !ok {
		return "", false
	}
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:8]), true
}

// principal is who makes a request.
type principal struct {
	kind    string // kindUser, kindToken, kindOpen
	name    string // user or token name; "" when open
	session string // session id (user or open-access browser sessions)
	data    sessionData
}

const (
	kindUser  = "user"
	kindToken = "token"
	kindOpen  = "open"
)

// display is how wake history, stop reasons and logs name the principal.
func (p principal) display() string {
	switch p.kind {
	case kindUser:
		return p.name
	case kindToken:
		return "token " + p.name
	}
	return "local operator"
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// sessionCookie is the name of the dashboard's session cookie.
const sessionCookie = "waitingroom_admin"

// sessionData is what the signed cookie carries.
type sessionData struct {
	User string `json:"u"`
	ID   string `json:"i"`
	Exp  int64  `json:"e"`
	FP   string `json:"f,omitempty"`
}

// signer signs session cookies and derives CSRF tokens with one key.
type signer struct{ key []byte }

func (s signer) mac(purpose, msg string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(msg))
	return h.Sum(nil)
}

var b64 = base64.RawURLEncoding

func (s signer) encode(d sessionData) string {
	raw, _ := json.Marshal(d) // plain strings and a number: cannot fail
	payload := b64.EncodeToString(raw)
	return payload + "." + b64.EncodeToString(s.mac("session", payload))
}

func (s signer) decode(v string, now time.Time) (sessionData, bool) {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 1024 {
		return sessionData{}, false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", payload)) {
		return sessionData{}, false
	}
	raw, err := b64.DecodeString(payload)
	if err != nil {
		return sessionData{}, false
	}
	var d sessionData
	if json.Unmarshal(raw, &d) != nil || d.ID == "" || now.Unix() >= d.Exp {
		return sessionData{}, false
	}
	return d, true
}

// csrf is the CSRF token of a session: bound to it, so a token from one
// session is worthless in another, and never stored anywhere.
func (s signer) csrf(sessionID string) string {
	return b64.EncodeToString(s.mac("csrf", sessionID))
}

func (s signer) validCSRF(sessionID, token string) bool {
	if token == "" || sessionID == "" {
		return false
	}
	got, err := b64.DecodeString(token)
	return err == nil && hmac.Equal(got, s.mac("csrf", sessionID))
}

func newSessionID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// loginLimiter rate-limits login attempts per client address (IPv6 per
// /64), so passwords cannot be guessed quickly from one place.
type loginLimiter struct {
	every time.Duration
	burst int

	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

// maxLimited bounds the limiter's memory; past it, limiters that have
// refilled are forgotten (they would allow a full burst anyway).
const maxLimited = 10000

func newLoginLimiter(every time.Duration, burst int) *loginLimiter {
	return &loginLimiter{every: every, burst: burst, clients: map[string]*rate.Limiter{}}
}

// take takes one attempt for client; when refused it says how long to
// wait. undo gives the attempt back (when the password was never checked,
// it must not count against the client).
func (l *loginLimiter) take(client string, now time.Time) (ok bool, wait time.Duration, undo func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= maxLimited {
			l.prune(now)
		}
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.clients[client] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, nil
	}
	return true, 0, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		r.CancelAt(now)
	}
}

func (l *loginLimiter) prune(now time.Time) {
	for k, lim := range l.clients {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.clients, k)
		}
	}
	if len(l.clients) >= maxLimited {
		// Too many addresses still limited: start over rather than
		// grow without bound.
		clear(l.clients)
	}
}

// limitKey is the address a login attempt is counted against.
func limitKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

// authenticate finds who makes the request: a bearer token, a session
// cookie, or open access. ok is false when credentials were offered and
// are wrong or when nobody may access without them.
func (a *Admin) authenticate(r *http.Request) (p principal, ok bool) {
	creds := a.creds.Load()
	if auth := r.Header.Get("Authorization"); auth != "" && !creds.open() {
		scheme, value, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return principal{}, false
		}
		name, found := creds.token(strings.TrimSpace(value))
		if !found {
			return principal{}, false
		}
		return principal{kind: kindToken, name: name}, true
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if d, valid := a.sign.decode(c.Value, a.ctl.Now()); valid {
			switch {
			case d.User == "" && creds.open():
				return principal{kind: kindOpen, session: d.ID}, true
			case d.User != "":
				if fp, known := creds.fingerprint(d.User); known && hmac.Equal([]byte(fp), []byte(d.FP)) && a.sessionLive(r.Context(), d) {
					return principal{kind: kindUser, name: d.User, session: d.ID, data: d}, true
				}
			}
		}
	}
	if creds.open() {
		return principal{kind: kindOpen}, true
	}
	return principal{}, false
}

// setSession sends the session cookie: HttpOnly (scripts cannot read it),
// SameSite=Strict (other sites' requests do not carry it), Secure when the
// browser reached the dashboard over TLS (see overTLS).
func (a *Admin) setSession(w http.ResponseWriter, r *http.Request, d sessionData) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: a.sign.encode(d), Path: "/",
		MaxAge: int(a.opts.SessionTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: a.overTLS(r),
	})
}

func (a *Admin) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: a.overTLS(r),
	})
}

// overTLS reports whether the browser's connection is TLS: this one, or
// the one a trusted proxy (trusted_proxies) terminated and says so with
// X-Forwarded-Proto: https. Anyone else's X-Forwarded-Proto is ignored.
// With several values the first is the client's own.
func (a *Admin) overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if a.opts.TrustedProxy == nil || !a.opts.TrustedProxy(RemoteAddrIP(r)) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// csrfFor returns the CSRF token a page embeds for p. A browser with open
// access gets a session of its own first, so that its POSTs carry a token
// another site cannot know.
func (a *Admin) csrfFor(w http.ResponseWriter, r *http.Request, p *principal) string {
	if p.session == "" && p.kind == kindOpen {
		p.session = newSessionID()
		a.setSession(w, r, sessionData{ID: p.session, Exp: a.ctl.Now().Add(a.opts.SessionTTL).Unix()})
	}
	if p.session == "" {
		return ""
	}
	return a.sign.csrf(p.session)
}

// csrfOK checks the CSRF token of a state-changing request. Bearer tokens
// need none (browsers never send them on their own). A session needs its
// token, in the X-CSRF-Token header or the form field csrf. Open access
// without a session is allowed for command-line clients only: a request
// with a browser's Origin or Sec-Fetch-Site header must have a token.
func (a *Admin) csrfOK(r *http.Request, p principal) bool {
	if p.kind == kindToken {
		return true
	}
	token := r.Header.Get("X-CSRF-Token")
	if token == "" && isForm(r) {
		token = r.PostFormValue("csrf")
	}
	if p.session != "" {
		return a.sign.validCSRF(p.session, token)
	}
	if p.kind == kindOpen {
		return r.Header.Get("Origin") == "" && r.Header.Get("Sec-Fetch-Site") == ""
	}
	return false
}

// isForm tells an HTML form's POST from an API call.
func isForm(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data")
}

// safeNext is where to go after logging in: a path on this listener only,
// never another site ("//evil.example", "https://...").
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
