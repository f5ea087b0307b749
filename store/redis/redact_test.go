package redisstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/waitingroom/waitingroom/controller"
)

func TestRedactURLHidesPassword(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"redis://user:s3cret@host:6379", "redis://user:xxxxx@host:6379"},
		{"redis://user@host:6379", "redis://user@host:6379"},
		{"redis://host:6379/0", "redis://host:6379/0"},
		{"not a url", "not a url"},
	}
	for _, tc := range tests {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewReportsMalformedURLWithoutPassword(t *testing.T) {
	_, err := New(t.Context(), "redis://:s3cret@127.0.0.1:notaport/0")
	if err == nil || errors.Is(err, controller.ErrStoreUnavailable) {
		t.Fatalf("New with a malformed URL = %v; want a configuration error", err)
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Errorf("error shows the password: %s", got)
	}
}
