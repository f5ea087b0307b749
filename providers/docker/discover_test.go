package docker

import (
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/internal/testutil/dockertest"
)

func TestHostFromLabels(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]string
		want    controller.Host
		wantErr string
	}{
		{
			name:   "host only",
			labels: map[string]string{LabelHost: "App.Example.com.", "com.other": "x"},
			want: controller.Host{Name: "app.example.com", Provider: "dock", Origin: OriginLabels,
				Target: controller.Target{Host: "app.example.com", Provider: "dock", Backend: Target{Container: "web"}}},
		},
		{
			name: "every label",
			labels: map[string]string{LabelHost: "app.example.com", LabelIdleTimeout: "10m", LabelStartTimeout: "90s",
				LabelReadyURL: "http://{internal_ip}:8080/healthz", LabelSleep: "pause"},
			want: controller.Host{Name: "app.example.com", Provider: "dock", Origin: OriginLabels,
				IdleTimeout: 10 * time.Minute, StartTimeout: 90 * time.Second, ReadyURL: "http://{internal_ip}:8080/healthz",
				Target: controller.Target{Host: "app.example.com", Provider: "dock", Sleep: "pause", Backend: Target{Container: "web"}}},
		},
		{name: "bad duration", labels: map[string]string{LabelHost: "a.example.com", LabelIdleTimeout: "ten minutes"},
			wantErr: `container "web": label waitingroom.idle_timeout="ten minutes": want a positive duration`},
		{name: "zero duration", labels: map[string]string{LabelHost: "a.example.com", LabelStartTimeout: "0s"},
			wantErr: `label waitingroom.start_timeout="0s": want a positive duration`},
		{name: "host with port", labels: map[string]string{LabelHost: "a.example.com:8080"},
			wantErr: `container "web": label waitingroom.host="a.example.com:8080": a port is not part of a hostname`},
		{name: "host with scheme", labels: map[string]string{LabelHost: "https://a.example.com"},
			wantErr: `label waitingroom.host="https://a.example.com": write the hostname alone`},
		// The one hostname rule: docker used to accept an all-numeric name
		// the configuration file refuses.
		{name: "numeric host", labels: map[string]string{LabelHost: "10.0.0.300"},
			wantErr: `label waitingroom.host="10.0.0.300": hostname looks like an IP address`},
		{name: "empty host", labels: map[string]string{LabelHost: " "}, wantErr: "hostname is empty"},
		{name: "bad sleep", labels: map[string]string{LabelHost: "a.example.com", LabelSleep: "suspend"},
			wantErr: `label waitingroom.sleep="suspend": sleep "suspend" is not supported by docker`},
		{name: "relative ready_url", labels: map[string]string{LabelHost: "a.example.com", LabelReadyURL: "/healthz"},
			wantErr: `label waitingroom.ready_url="/healthz": "/healthz" is not an http:// or https:// URL`},
		{name: "typo in a label", labels: map[string]string{LabelHost: "a.example.com", "waitingroom.idle_timout": "5m"},
			wantErr: `label waitingroom.idle_timout="5m": unknown label`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := HostFromLabels("dock", "web", tc.labels)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want.Name || got.Provider != tc.want.Provider || got.Origin != tc.want.Origin ||
				got.IdleTimeout != tc.want.IdleTimeout || got.StartTimeout != tc.want.StartTimeout || got.ReadyURL != tc.want.ReadyURL ||
				got.Target.Host != tc.want.Target.Host || got.Target.Provider != tc.want.Target.Provider ||
				got.Target.Sleep != tc.want.Target.Sleep || containerOf(got.Target) != "web" {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestDiscoverLabels runs discovery against the engine. Other packages'
// tests may have labelled containers too, so it looks only at hosts under
// its own unique domain.
func TestDiscoverLabels(t *testing.T) {
	cli, im := images.Images(t)
	domain := dockertest.Name("disc") + ".test"
	stopped := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain, Labels: map[string]string{
		LabelHost: "sleepy." + domain, LabelIdleTimeout: "5m", LabelReadyURL: "http://{internal_ip}:8080/",
	}})
	running := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain, Start: true, Labels: map[string]string{
		LabelHost: "awake." + domain, LabelSleep: "pause",
	}})
	invalid := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain, Labels: map[string]string{
		LabelHost: "broken." + domain, LabelIdleTimeout: "soon",
	}})
	// Two containers claiming one host: the first name in sort order wins.
	dupA := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain, Name: dockertest.Name("wrtest-a"), Labels: map[string]string{LabelHost: "dup." + domain}})
	dupB := dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain, Name: dockertest.Name("wrtest-b"), Labels: map[string]string{LabelHost: "dup." + domain}})
	dockertest.Create(t, cli, dockertest.Spec{Image: im.Plain}) // no labels: ignored

	ctx := ctxT(t, 30*time.Second)
	off := newTestProvider(t, Options{Name: "dock"})
	if hosts, err := off.Discover(ctx); hosts != nil || err != nil {
		t.Fatalf("Discover with labels off = %v, %v; want nothing", hosts, err)
	}

	p := newTestProvider(t, Options{Name: "dock", Labels: true})
	all, err := p.Discover(ctx)
	byName := map[string]controller.Host{}
	for _, h := range all {
		if strings.HasSuffix(h.Name, "."+domain) {
			byName[h.Name] = h
		}
	}
	if len(byName) != 3 {
		t.Fatalf("discovered %d hosts under %s, want 3 (sleepy, awake, dup): %+v", len(byName), domain, byName)
	}
	for _, want := range []struct {
		host, container string
		check           func(controller.Host) bool
	}{
		{"sleepy." + domain, stopped.Name, func(h controller.Host) bool {
			return h.IdleTimeout == 5*time.Minute && h.ReadyURL == "http://{internal_ip}:8080/"
		}},
		{"awake." + domain, running.Name, func(h controller.Host) bool { return h.Target.Sleep == SleepPause }},
		{"dup." + domain, dupA.Name, nil},
	} {
		h, ok := byName[want.host]
		if !ok {
			t.Errorf("%s not discovered", want.host)
			continue
		}
		if h.Origin != OriginLabels || h.Provider != "dock" || h.Target.Provider != "dock" || containerOf(h.Target) != want.container {
			t.Errorf("%s: %+v; want origin %s, provider dock, container %s", want.host, h, OriginLabels, want.container)
		}
		if want.check != nil && !want.check(h) {
			t.Errorf("%s: labels not applied: %+v", want.host, h)
		}
	}
	if err == nil {
		t.Fatal("Discover reported no error for the invalid and duplicate labels")
	}
	for _, want := range []string{
		`container "` + invalid.Name + `": label waitingroom.idle_timeout="soon"`,
		`container "` + dupB.Name + `": label waitingroom.host="dup.` + domain + `": host already claimed by container "` + dupA.Name + `"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}

	// A discovered stopped host wakes like a YAML one.
	sleepy := byName["sleepy."+domain]
	if err := p.Start(ctx, sleepy.Target); err != nil {
		t.Fatalf("Start of the discovered stopped container: %v", err)
	}
	waitState(t, p, sleepy.Target, controller.StateRunning, 10*time.Second)
}
