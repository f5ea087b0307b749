package swarm

import (
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
	"github.com/waitingroom/waitingroom/internal/testutil/swarmtest"
)

// Services with waitingroom.* labels become hosts of the provider, asleep
// or not, with the Docker provider's rules (hostname, durations, ready_url);
// a bad label or a host claimed twice is reported and left out.
func TestDiscoverServiceLabels(t *testing.T) {
	cli, im := engine(t)
	host := dockertest.Name("svc") + ".test"
	good := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: im.Plain, Name: dockertest.Name("wrtest-a"), Labels: map[string]string{
		"waitingroom.host": strings.ToUpper(host), "waitingroom.idle_timeout": "5m", "waitingroom.replicas": "2",
		"waitingroom.ready_url": "http://{internal_ip}:8080/healthz",
	}})
	twice := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: im.Plain, Name: dockertest.Name("wrtest-z"), Labels: map[string]string{"waitingroom.host": host}})
	bad := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: im.Plain, Labels: map[string]string{"waitingroom.host": "not a host"}})
	typo := swarmtest.CreateService(t, cli, swarmtest.Spec{Image: im.Plain, Labels: map[string]string{"waitingroom.host": "t." + host, "waitingroom.idle": "1m"}})

	off := newTestProvider(t, Options{})
	if hs, err := off.Discover(ctxT(t, 30*time.Second)); hs != nil || err != nil {
		t.Fatalf("Discover with labels off = %v, %v", hs, err)
	}
	p := newTestProvider(t, Options{Name: "sw", Labels: true})
	hs, err := p.Discover(ctxT(t, 30*time.Second))
	var mine int
	for _, h := range hs {
		if h.Name != host {
			continue // another test's service
		}
		mine++
		if h.Provider != "sw" || serviceOf(h.Target) != good.Name || h.IdleTimeout != 5*time.Minute ||
			h.Origin != OriginLabels || h.ReadyURL != "http://{internal_ip}:8080/healthz" {
			t.Errorf("host %+v", h)
		}
	}
	if mine != 1 {
		t.Fatalf("%d hosts named %s, want 1 (of %v)", mine, host, hs)
	}
	if err == nil {
		t.Fatal("no error for the bad services")
	}
	for _, want := range []string{
		`service "` + twice.Name + `": label waitingroom.host="` + host + `": host already claimed by service "` + good.Name + `"`,
		`service "` + bad.Name + `": label waitingroom.host="not a host"`,
		`service "` + typo.Name + `": label waitingroom.idle="1m": unknown label`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
}
