package guard

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/fake"
)

func TestTruncate(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"203.0.113.77", "203.0.113.x"},
		{"::ffff:203.0.113.77", "203.0.113.x"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::x"},
		{"2001:db8::1", "2001:db8::x"},
		{"fe80::1%eth0", "fe80::x"},
		{"::1", "::x"},
	}
	for _, tt := range tests {
		if got := Truncate(mustAddr(t, tt.addr)); got != tt.want {
			t.Errorf("Truncate(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	if got := Truncate(zeroAddr); got != "" {
		t.Errorf("Truncate(zero) = %q, want empty", got)
	}
}

func TestDisplay(t *testing.T) {
	a := mustAddr(t, "::ffff:203.0.113.77")
	if got := Display(a, false); got != "203.0.113.x" {
		t.Errorf("Display(full off) = %q", got)
	}
	if got := Display(a, true); got != "203.0.113.77" {
		t.Errorf("Display(full on) = %q", got)
	}
}

func TestHasherKeys(t *testing.T) {
	clock := fake.NewClock(start)
	h := NewHasher(testKey, clock)
	a := mustAddr(t, "203.0.113.77")
	neighbour := mustAddr(t, "203.0.113.78")
	other := mustAddr(t, "198.51.100.1")

	k := h.Key(a)
	if _, err := hex.DecodeString(k); len(k) != 32 || err != nil {
		t.Errorf("Key = %q: want 32 hex digits", k)
	}
	if h.Key(a) != k {
		t.Error("Key is not stable within a day")
	}
	if h.Key(mustAddr(t, "::ffff:203.0.113.77")) != k {
		t.Error("IPv4-mapped address hashed differently from IPv4")
	}
	if h.Key(neighbour) == k || h.Key(other) == k {
		t.Error("different addresses share a key")
	}
	if h.PrefixKey(a) != h.PrefixKey(neighbour) {
		t.Error("addresses of one /24 have different prefix keys")
	}
	if h.PrefixKey(a) == h.PrefixKey(other) || h.PrefixKey(a) == k {
		t.Error("prefix key collides with another network or with the address key")
	}
	v6a, v6b := mustAddr(t, "2001:db8:1:2::10"), mustAddr(t, "2001:db8:1:2:ffff::1")
	if h.PrefixKey(v6a) != h.PrefixKey(v6b) || h.Key(v6a) == h.Key(v6b) {
		t.Error("IPv6 /64 prefix keys differ, or address keys coincide")
	}
	if NewHasher([]byte("another key, another installation"), clock).Key(a) == k {
		t.Error("the key does not depend on the hash key")
	}

	ak, pk := SplitClientKey(h.ClientKey(a))
	if ak != k || pk != h.PrefixKey(a) {
		t.Errorf("SplitClientKey(ClientKey) = %q, %q", ak, pk)
	}
	if h.ClientKey(zeroAddr) != "" || h.Key(zeroAddr) != "" {
		t.Error("the zero Addr got a key")
	}
}

// TestHasherRotatesDaily: a client's key today cannot be linked to its
// key tomorrow; it holds all day.
func TestHasherRotatesDaily(t *testing.T) {
	clock := fake.NewClock(time.Date(2030, 6, 15, 0, 0, 1, 0, time.UTC))
	h := NewHasher(testKey, clock)
	a := mustAddr(t, "203.0.113.77")
	morning, prefixMorning := h.Key(a), h.PrefixKey(a)
	clock.Set(time.Date(2030, 6, 15, 23, 59, 59, 0, time.UTC))
	if h.Key(a) != morning {
		t.Error("key changed within the UTC day")
	}
	clock.Advance(2 * time.Second)
	if h.Key(a) == morning || h.PrefixKey(a) == prefixMorning {
		t.Error("key did not change at midnight UTC")
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key")
	if err := os.WriteFile(good, []byte("  0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(good)
	if err != nil || string(k) != "0123456789abcdef0123" {
		t.Errorf("LoadKey = %q, %v", k, err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(short); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("short key: err = %v", err)
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing key file accepted")
	}
	r1, err1 := LoadKey("")
	r2, err2 := LoadKey("")
	if err1 != nil || err2 != nil || len(r1) != 32 || string(r1) == string(r2) {
		t.Errorf("random keys: %d bytes, equal=%v, errs %v %v", len(r1), string(r1) == string(r2), err1, err2)
	}
	if string(DeriveKey(k, "a")) == string(DeriveKey(k, "b")) {
		t.Error("DeriveKey gives one key for two purposes")
	}
}
