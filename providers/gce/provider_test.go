package gce_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitingroom/waitingroom/controller"
	"github.com/waitingroom/waitingroom/providers/gce"
	"github.com/waitingroom/waitingroom/providers/gce/gcetest"
)

func TestIPChangeBetweenWakesReachesTheProbeURL(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm"})
	p := newProvider(t, srv)
	ctx := testCtx(t, 10*time.Second)
	const readyURL = "http://{internal_ip}:8080/healthz?via={external_ip}"

	wake := func() string {
		t.Helper()
		if err := p.Start(ctx, target("vm")); err != nil {
			t.Fatalf("Start: %v", err)
		}
		st, err := p.Status(ctx, target("vm"))
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		u, err := controller.ExpandReadyURL(readyURL, st)
		if err != nil {
			t.Fatalf("ExpandReadyURL: %v", err)
		}
		return u
	}
	first := wake()
	if err := p.Stop(ctx, target("vm")); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	second := wake()
	if first != "http://10.128.0.2:8080/healthz?via=203.0.113.2" {
		t.Errorf("first wake probes %s", first)
	}
	if second != "http://10.128.0.3:8080/healthz?via=203.0.113.3" {
		t.Errorf("second wake probes %s, want the new addresses", second)
	}
}

func TestAddress(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "up", Status: "RUNNING", InternalIP: "10.0.0.7", ExternalIP: "198.51.100.7"})
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "down", InternalIP: "10.0.0.8"})
	p := newProvider(t, srv)
	ctx := testCtx(t, 5*time.Second)
	in, ex, err := p.Address(ctx, target("up"))
	if err != nil || in != "10.0.0.7" || ex != "198.51.100.7" {
		t.Fatalf("Address(up) = %q, %q, %v", in, ex, err)
	}
	// A stopped VM keeps its internal address but has no external one.
	in, ex, err = p.Address(ctx, target("down"))
	if err != nil || in != "10.0.0.8" || ex != "" {
		t.Fatalf("Address(down) = %q, %q, %v", in, ex, err)
	}
	if _, _, err := p.Address(ctx, target("ghost")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Address(ghost) err = %v", err)
	}
}

func TestProjectFromTargetOverridesProvider(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: "other-project", Zone: zone, Name: "vm"})
	p := newProvider(t, srv)
	tg := target("vm")
	gt := tg.Backend.(gce.Target)
	gt.Project = "other-project"
	tg.Backend = gt
	if err := p.Start(testCtx(t, 10*time.Second), tg); err != nil {
		t.Fatal(err)
	}
	if st, _ := srv.Instance("other-project", zone, "vm"); st.Status != "RUNNING" {
		t.Fatalf("status = %s", st.Status)
	}
}

func TestValidate(t *testing.T) {
	srv := gcetest.NewServer(t)
	p := newProvider(t, srv)
	cases := []struct {
		name   string
		fields map[string]string
		sleep  string
		want   string // "" for valid
	}{
		{"valid", map[string]string{"instance": "web-1", "zone": "asia-southeast2-a"}, "", ""},
		{"valid with project and suspend", map[string]string{"instance": "web-1", "zone": "us-central1-f", "project": "my-project-42"}, "suspend", ""},
		{"missing instance", map[string]string{"zone": "us-central1-f"}, "", "instance is not set"},
		{"missing zone", map[string]string{"instance": "web-1"}, "", "zone is not set"},
		{"path in instance", map[string]string{"instance": "../web", "zone": "us-central1-f"}, "", "not a valid instance name"},
		{"bad zone", map[string]string{"instance": "web-1", "zone": "us central"}, "", "not a valid zone name"},
		{"bad project", map[string]string{"instance": "web-1", "zone": "us-central1-f", "project": "X"}, "", "not a valid project ID"},
		{"docker sleep", map[string]string{"instance": "web-1", "zone": "us-central1-f"}, "pause", `sleep "pause" is not supported by gce`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Validate(controller.Target{Host: "h.example.com", Backend: fields(tc.fields), Sleep: tc.sleep})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNoProjectAnywhere(t *testing.T) {
	srv := gcetest.NewServer(t)
	p := newProvider(t, srv, func(o *gce.Options) { o.Project = "" })
	err := p.Start(testCtx(t, 5*time.Second), target("vm"))
	if err == nil || !strings.Contains(err.Error(), "project is not set on the host nor on the gce provider") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	dir := t.TempDir()
	weird := filepath.Join(dir, "weird.json")
	if err := os.WriteFile(weird, []byte(`{"type":"api_key"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	sa := filepath.Join(dir, "sa.json")
	if err := os.WriteFile(sa, []byte(`{"type":"service_account"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(notJSON, []byte("-----BEGIN PRIVATE KEY-----"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts gce.Options
		want string
	}{
		{"sleep pause", gce.Options{Sleep: "pause"}, `sleep "pause" is not supported by gce`},
		{"missing credentials file", gce.Options{CredentialsFile: filepath.Join(dir, "nope.json")}, "credentials_file"},
		{"unknown credentials type", gce.Options{CredentialsFile: weird}, `has type "api_key"`},
		{"credentials not JSON", gce.Options{CredentialsFile: notJSON}, "is not a JSON credentials file"},
		{"credentials over plain http", gce.Options{CredentialsFile: sa, Endpoint: "http://127.0.0.1:1"}, "would send the credentials of credentials_file in clear"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gce.New(context.Background(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestPlainHTTPEndpointNeedsNoCredentials is how the waitingroom binary
// reaches a local fake API from its YAML config alone (endpoint:).
func TestPlainHTTPEndpointNeedsNoCredentials(t *testing.T) {
	srv := gcetest.NewServer(t)
	srv.AddInstance(gcetest.Instance{Project: project, Zone: zone, Name: "vm"})
	p, err := gce.New(context.Background(), gce.Options{Project: project, Endpoint: srv.URL, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := p.Start(testCtx(t, 10*time.Second), target("vm")); err != nil {
		t.Fatalf("Start: %v", err)
	}
}
