package guard

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/fake"
)

func TestTokens(t *testing.T) {
	clock := fake.NewClock(start)
	tok := NewTokens(DeriveKey(testKey, "click-token"), 10*time.Minute, clock)
	good := tok.Issue("app.example.com")
	other := NewTokens(DeriveKey(testKey, "something else"), 10*time.Minute, clock)

	tamper := []byte(good)
	if tamper[len(tamper)-1] == 'A' {
		tamper[len(tamper)-1] = 'B'
	} else {
		tamper[len(tamper)-1] = 'A'
	}
	tests := []struct {
		name    string
		host    string
		token   string
		advance time.Duration
		want    error
	}{
		{"fresh token for its host", "app.example.com", good, 0, nil},
		{"still valid just before expiry", "app.example.com", good, 10*time.Minute - time.Second, nil},
		{"expired", "app.example.com", good, 10 * time.Minute, ErrTokenExpired},
		{"another host", "other.example.com", good, 0, ErrTokenInvalid},
		{"tampered", "app.example.com", string(tamper), 0, ErrTokenInvalid},
		{"signed with another key", "app.example.com", other.Issue("app.example.com"), 0, ErrTokenInvalid},
		{"empty", "app.example.com", "", 0, ErrTokenInvalid},
		{"garbage", "app.example.com", strings.Repeat("!", 32), 0, ErrTokenInvalid},
		{"too long", "app.example.com", good + "AAAA", 0, ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(start.Add(tt.advance))
			if err := tok.Verify(tt.host, tt.token); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestTokensSharedByReplicas: a token issued by one replica is accepted by
// another holding the same key.
func TestTokensSharedByReplicas(t *testing.T) {
	clock := fake.NewClock(start)
	key := DeriveKey(testKey, "click-token")
	a, b := NewTokens(key, 0, clock), NewTokens(key, 0, clock)
	if err := b.Verify("app.example.com", a.Issue("app.example.com")); err != nil {
		t.Errorf("replica b rejects replica a's token: %v", err)
	}
	clock.Advance(DefaultTokenTTL)
	if err := b.Verify("app.example.com", a.Issue("app.example.com")); err != nil {
		t.Errorf("default TTL: fresh token rejected: %v", err)
	}
}

func FuzzTokenVerify(f *testing.F) {
	clock := fake.NewClock(start)
	tok := NewTokens(testKey, 0, clock)
	f.Add("app.example.com", tok.Issue("app.example.com"))
	f.Add("app.example.com", "")
	f.Fuzz(func(t *testing.T, host, token string) {
		err := tok.Verify(host, token)
		if err == nil && token != tok.Issue(host) {
			t.Fatalf("Verify(%q, %q) accepted a token it did not issue", host, token)
		}
	})
}
