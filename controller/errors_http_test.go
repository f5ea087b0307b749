package controller

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		retry  time.Duration
	}{
		{"nil", nil, 200, 0},
		{"unknown host", fmt.Errorf("wake: %w", ErrUnknownHost), 404, 0},
		{"budget with retry", &BudgetError{Budget: "host per day", RetryAfter: 3 * time.Hour}, 429, 3 * time.Hour},
		{"budget without", ErrBudgetExceeded, 429, time.Minute},
		{"refused", ErrWakeRefused, 403, 0},
		{"blocked client", ErrClientBlocked, 403, 0},
		{"conflict", ErrConflict, 409, 0},
		{"store down", fmt.Errorf("read: %w", ErrStoreUnavailable), 503, 0},
		{"engine down", fmt.Errorf("start: %w", ErrUnavailable), 503, 0},
		{"anything else", errors.New("boom"), 500, 0},
	}
	for _, tt := range tests {
		if status, retry := HTTPStatus(tt.err); status != tt.status || retry != tt.retry {
			t.Errorf("%s: HTTPStatus = %d, %s; want %d, %s", tt.name, status, retry, tt.status, tt.retry)
		}
	}
}
