package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/traefiktest"
)

// TestMarkedDownIsNarrow: the only 5xx the status check forgives besides
// waitingroom's own is Traefik's 503 from a host's failover next to a failed
// health check of that host's backend, one per failed check.
func TestMarkedDownIsNarrow(t *testing.T) {
	at := time.Date(2026, 12, 5, 6, 21, 57, 0, time.UTC)
	failures := []traefiktest.HealthCheckFailure{{At: at, Service: "app-test-backend@file", URL: "http://127.0.0.1:9"}}
	backends := map[string]string{"app-test": "app-test-backend", "app-test-read": "app-test-backend"}
	race := traefiktest.Access{Status: http.StatusServiceUnavailable, Router: "app-test-read@file", Start: at.Add(400 * time.Millisecond)}
	for _, tc := range []struct {
		name string
		edit func(*traefiktest.Access)
		want bool
	}{
		{"503 of the read router as the check failed", func(*traefiktest.Access) {}, true},
		{"503 of the host's other router", func(a *traefiktest.Access) { a.Router = "app-test@file" }, true},
		{"within the second before (the log says seconds)", func(a *traefiktest.Access) { a.Start = at.Add(-900 * time.Millisecond) }, true},
		{"seconds later", func(a *traefiktest.Access) { a.Start = at.Add(5 * time.Second) }, false},
		{"another host's router", func(a *traefiktest.Access) { a.Router = "shop-test-read@file" }, false},
		{"another provider's router", func(a *traefiktest.Access) { a.Router = "app-test-read@http" }, false},
		{"a 502", func(a *traefiktest.Access) { a.Status = http.StatusBadGateway }, false},
		{"a 503 a service sent", func(a *traefiktest.Access) { a.Service = "app-test-backend@file" }, false},
		{"a 503 a server sent", func(a *traefiktest.Access) { a.ServiceURL = "http://127.0.0.1:9" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := race
			tc.edit(&a)
			if got := markedDown(a, failures, map[int]bool{}, backends); got != tc.want {
				t.Errorf("markedDown(%+v) = %v, want %v", a, got, tc.want)
			}
		})
	}
	if markedDown(race, nil, map[int]bool{}, backends) {
		t.Error("a 503 with no failed health check logged is forgiven")
	}
	used := map[int]bool{}
	if !markedDown(race, failures, used, backends) || markedDown(race, failures, used, backends) {
		t.Error("one failed health check must excuse exactly one 503")
	}
}
