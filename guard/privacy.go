package guard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/waitingroom/waitingroom/controller"
)

// KeyRotation is how long a client key lives. Keys are HMACs over the
// address and the index of the current UTC day, so the same address gets
// an unrelated key every day: whoever reads the store (a Redis dump, a
// backup) can link one client's counters within a day at most, never
// across days, and cannot recover the address without the hash key.
//
// A day, not an hour, because the longest thing keyed on a client is the
// honeypot block (24h by default). The hourly client and prefix budgets
// are windows inside one day (windows are cut at multiples of their length
// since Go's zero time, so hours never straddle midnight UTC), so no
// counter ever outlives its key. A block longer than a day is written under
// every day's key it covers (see Budgets.Honeypot).
const KeyRotation = 24 * time.Hour

// keyBytes is how much of the HMAC a key keeps (128 bits, 32 hex digits):
// collisions are irrelevant at any realistic number of clients.
const keyBytes = 16

// MinKeyLength is the shortest hash or token key accepted.
const MinKeyLength = 16

// Hasher turns client addresses into keys that budgets can count on
// without storing the address. Safe for concurrent use.
type Hasher struct {
	clock controller.Clock
	// macs holds keyed HMAC states: hmac.New costs a dozen allocations,
	// Reset none.
	macs sync.Pool
}

// NewHasher returns a Hasher keyed with key (see LoadKey). Every replica
// sharing a store must use the same key, or client budgets are counted
// per replica. A nil clock is the system clock.
func NewHasher(key []byte, clock controller.Clock) *Hasher {
	if clock == nil {
		clock = controller.SystemClock{}
	}
	key = append([]byte(nil), key...)
	h := &Hasher{clock: clock}
	h.macs.New = func() any { return hmac.New(sha256.New, key) }
	return h
}

// Key is the client's address key for today: 32 hex digits, "" for the
// zero Addr.
func (h *Hasher) Key(addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	var buf [2 * keyBytes]byte
	return string(h.appendKey(buf[:0], addr, 0, h.clock.Now()))
}

// PrefixKey is today's key of the address's network: its /24 (IPv4) or
// /64 (IPv6), where one person or one machine usually sits. "" for the
// zero Addr.
func (h *Hasher) PrefixKey(addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	var buf [2 * keyBytes]byte
	return string(h.appendKey(buf[:0], addr, prefixBits(addr), h.clock.Now()))
}

// ClientKey is what goes into controller.Client.Key: the address key and
// the prefix key joined by a dot, so a WakeGate holding only the Client can
// apply both the client and the prefix budget. "" for the zero Addr.
func (h *Hasher) ClientKey(addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	now := h.clock.Now()
	var buf [4*keyBytes + 1]byte
	b := h.appendKey(buf[:0], addr, 0, now)
	b = append(b, '.')
	return string(h.appendKey(b, addr, prefixBits(addr), now))
}

// SplitClientKey undoes ClientKey. A key without a dot (made by someone
// else) is all address key and has no prefix key.
func SplitClientKey(key string) (addrKey, prefixKey string) {
	a, p, _ := strings.Cut(key, ".")
	return a, p
}

func prefixBits(addr netip.Addr) int {
	if addr.Unmap().Is4() {
		return 24
	}
	return 64
}

// keyAt is the key of addr masked to bits (0: the whole address) in the
// rotation period containing t.
func (h *Hasher) keyAt(addr netip.Addr, bits int, t time.Time) string {
	if !addr.IsValid() {
		return ""
	}
	var buf [2 * keyBytes]byte
	return string(h.appendKey(buf[:0], addr, bits, t))
}

// appendKey appends the hex key of addr masked to bits (0: the whole
// address) in the rotation period containing t.
func (h *Hasher) appendKey(dst []byte, addr netip.Addr, bits int, t time.Time) []byte {
	addr = addr.Unmap().WithZone("")
	if bits > 0 {
		if p, err := addr.Prefix(bits); err == nil {
			addr = p.Addr()
		}
	} else {
		bits = addr.BitLen()
	}
	// Domain-separated input: purpose, period, prefix length, address.
	// The period index makes today's key unrelated to tomorrow's.
	var in [64]byte
	b := append(in[:0], "waitingroom/client/v1\x00"...)
	b = binary.BigEndian.AppendUint64(b, uint64(rotationIndex(t)))
	b = append(b, byte(bits))
	if addr.Is4() {
		a4 := addr.As4()
		b = append(b, a4[:]...)
	} else {
		a16 := addr.As16()
		b = append(b, a16[:]...)
	}
	m := h.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(b)
	var sum [sha256.Size]byte
	out := m.Sum(sum[:0])
	h.macs.Put(m)
	return hex.AppendEncode(dst, out[:keyBytes])
}

// rotationIndex names the KeyRotation period containing t by its start
// (Unix seconds). Periods are cut like the stores cut counter windows
// (Truncate, multiples since Go's zero time), so days start at midnight
// UTC.
func rotationIndex(t time.Time) int64 {
	return t.Truncate(KeyRotation).Unix()
}

// Truncate is how a client address is shown in logs, the dashboard and
// webhooks when full addresses are off: an IPv4 address keeps its /24
// ("203.0.113.x"), an IPv6 address its /64 ("2001:db8:1:2::x"). The zero
// Addr gives "".
func Truncate(addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		var buf [16]byte
		out := strconv.AppendUint(buf[:0], uint64(b[0]), 10)
		out = append(out, '.')
		out = strconv.AppendUint(out, uint64(b[1]), 10)
		out = append(out, '.')
		out = strconv.AppendUint(out, uint64(b[2]), 10)
		return string(append(out, ".x"...))
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(p.Addr().String(), "::") + "::x"
}

// Display is Truncate, or the whole address when the operator turned
// privacy.full_addresses on.
func Display(addr netip.Addr, full bool) string {
	if full && addr.IsValid() {
		return addr.Unmap().String()
	}
	return Truncate(addr)
}

// LoadKey reads a secret key from path (privacy.hash_key_file): the file's
// content with surrounding white space removed, at least MinKeyLength
// bytes. An empty path gives a fresh random key, which is fine for one
// replica but not for several (each would hash addresses and sign tokens
// differently) and forgets client budgets on restart.
func LoadKey(path string) ([]byte, error) {
	if path == "" {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("random hash key: %w", err)
		}
		return key, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hash key: %w", err)
	}
	key := []byte(strings.TrimSpace(string(raw)))
	if len(key) < MinKeyLength {
		return nil, fmt.Errorf("hash key file %s: %d bytes; write at least %d random bytes (e.g. `openssl rand -hex 32 > %s`)",
			path, len(key), MinKeyLength, path)
	}
	return key, nil
}

// DeriveKey makes an independent key for one purpose from a master key,
// so one key file serves the address hash and the click tokens without
// one being usable as the other.
func DeriveKey(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("waitingroom/derive/v1\x00" + purpose))
	return m.Sum(nil)
}
