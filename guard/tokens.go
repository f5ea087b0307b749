package guard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// The form the waiting page of a `wake: click` host renders. The wake is a
// POST, which crawlers and link previewers do not send, carrying a token
// that only a freshly served page has:
//
//	<form method="post" action="/.waitingroom/wake">
//	  <input type="hidden" name="token" value="{{.WakeToken}}">
//	  <button type="submit">Wake it up</button>
//	</form>
//
// The POST goes to the same Host as the page; the handler verifies the
// token against that Host with Tokens.Verify, then wakes as usual
// (WakeDecision and the budgets still apply) and answers with the waiting
// page (or a 303 to the page the visitor came from).
const (
	WakePath   = "/.waitingroom/wake"
	TokenField = "token"
)

// DefaultTokenTTL is how long a click token is accepted after the page was
// served: long enough to read a page and press a button.
const DefaultTokenTTL = 15 * time.Minute

// Errors Verify returns.
var (
	ErrTokenInvalid = errors.New("wake token is not valid for this host")
	ErrTokenExpired = errors.New("wake token expired; reload the page")
)

// tokenMACBytes is how much of the HMAC a token keeps (128 bits).
const tokenMACBytes = 16

// Tokens signs and checks the short-lived tokens of click-mode wakes. A
// token is bound to one host and to its expiry time: base64url of the
// expiry (Unix seconds, 8 bytes) and an HMAC over both. It is not bound to
// the client (a phone changes addresses between loading a page and
// pressing a button) and may be used more than once until it expires:
// waking a starting or running host is free, and budgets cap the rest.
// Safe for concurrent use.
type Tokens struct {
	key   []byte
	ttl   time.Duration
	clock controller.Clock
}

// NewTokens returns Tokens signing with key (replicas must share it: use
// DeriveKey(hashKey, "click-token")). ttl <= 0 means DefaultTokenTTL; a
// nil clock is the system clock.
func NewTokens(key []byte, ttl time.Duration, clock controller.Clock) *Tokens {
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	if clock == nil {
		clock = controller.SystemClock{}
	}
	return &Tokens{key: append([]byte(nil), key...), ttl: ttl, clock: clock}
}

// Issue returns a token for host (its normalised name), valid for the TTL.
func (t *Tokens) Issue(host string) string {
	exp := t.clock.Now().Add(t.ttl).Unix()
	var raw [8 + tokenMACBytes]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(exp))
	copy(raw[8:], t.mac(host, exp))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// Verify checks that token was issued for host and has not expired. It
// returns nil, ErrTokenInvalid or ErrTokenExpired.
func (t *Tokens) Verify(host, token string) error {
	var raw [8 + tokenMACBytes]byte
	if base64.RawURLEncoding.DecodedLen(len(token)) != len(raw) {
		return ErrTokenInvalid
	}
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(token)); err != nil || n != len(raw) {
		return ErrTokenInvalid
	}
	exp := int64(binary.BigEndian.Uint64(raw[:8]))
	if !hmac.Equal(raw[8:], t.mac(host, exp)) {
		return ErrTokenInvalid
	}
	now := t.clock.Now()
	if now.Unix() >= exp {
		return ErrTokenExpired
	}
	return nil
}

func (t *Tokens) mac(host string, exp int64) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("waitingroom/click-token/v1\x00"))
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], uint64(exp))
	m.Write(e[:])
	m.Write([]byte(host))
	return m.Sum(nil)[:tokenMACBytes]
}
