package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/waitingroom/waitingroom/"

// allowed is docs/ARCHITECTURE.md's drawing: for each package (a pattern
// ending in "/..." covers a folder), the project packages it may import.
// "internal" stands for the leaf helpers under internal/ (not testutil).
// Test files are not checked: tests may reach anything.
var allowed = []struct {
	pkg     string
	imports []string
}{
	{"cmd/waitingroom", []string{"*"}}, // the wiring: everything
	{"cmd/demo-backend", nil},
	{"controller", []string{"internal"}}, // the domain imports no other project package
	{"internal/hostname", nil},
	{"internal/httpurl", nil},
	{"internal/sleep", nil},
	{"internal/backoff", nil},
	{"internal/clientclass", nil},
	{"internal/redact", nil},
	{"internal/rlimit", nil},
	{"internal/archtest", nil},
	// config builds each feature's per-host settings, in the types the
	// features own (traefik.HostOptions, activity.HostSettings, hold's
	// timeout): it imports them, they never import config.
	// It takes the defaults its consumers own (scheduler intervals, the
	// derived waitingroom_url) from them rather than copying them.
	// config decodes each provider kind's settings through the
	// providers.Kind interfaces; it never names a kind (providers/*).
	{"config", []string{"controller", "activity", "activity/window", "hold", "traefik", "scheduler", "providers", "internal"}},
	{"providers", []string{"controller", "internal"}},
	// The table of kinds: the one package that names every kind.
	{"providers/kinds", []string{"providers", "providers/...", "controller", "internal"}},
	{"providers/...", []string{"controller", "providers", "internal"}},
	{"store/...", []string{"controller", "internal"}},
	{"scheduler", []string{"controller", "internal"}},
	{"web", []string{"controller", "internal"}},
	{"traefik", []string{"controller", "internal"}},
	{"metrics", []string{"controller", "internal"}},
	{"webhook", []string{"controller", "internal"}},
	{"activity/window", nil},
	// Features around the domain: typed settings through their Options,
	// never the YAML types.
	{"activity", []string{"controller", "activity/window", "internal", "traefik"}},
	{"guard", []string{"controller", "internal"}},
	{"hold", []string{"controller", "internal", "traefik"}},
	// Test harnesses.
	{"internal/testutil/...", []string{"*"}},
	{"e2e", []string{"*"}},
	{"bench/...", []string{"*"}},
	{"bench", []string{"*"}},
}

func rule(pkg string) ([]string, bool) {
	for _, r := range allowed {
		if r.pkg == pkg || strings.HasSuffix(r.pkg, "/...") && strings.HasPrefix(pkg, strings.TrimSuffix(r.pkg, "...")) {
			return r.imports, true
		}
	}
	return nil, false
}

func permitted(rules []string, imp string) bool {
	for _, r := range rules {
		switch {
		case r == "*", r == imp:
			return true
		case strings.HasSuffix(r, "/...") && strings.HasPrefix(imp, strings.TrimSuffix(r, "...")):
			return true
		case r == "internal" && strings.HasPrefix(imp, "internal/") && !strings.HasPrefix(imp, "internal/testutil"):
			return true
		}
	}
	return false
}

// TestImportsFollowTheDrawing fails on an import docs/ARCHITECTURE.md
// forbids, and on a package the drawing does not place.
func TestImportsFollowTheDrawing(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		rules, ok := rule(pkg)
		if !ok {
			t.Errorf("package %s is not in docs/ARCHITECTURE.md's drawing (add it there and to allowed)", pkg)
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			rel, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue // the standard library and third-party modules
			}
			if !permitted(rules, rel) {
				t.Errorf("%s imports %s, which docs/ARCHITECTURE.md forbids (it may import: %s)", pkg, rel, strings.Join(rules, ", "))
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d packages: is go list reading this module?", checked)
	}
}

// The rules themselves: the checker refuses what the drawing forbids.
func TestPermittedRefusesForbiddenArrows(t *testing.T) {
	tests := []struct {
		pkg, imp string
		want     bool
	}{
		{"controller", "config", false},
		{"controller", "internal/sleep", true},
		{"controller", "internal/testutil/fake", false},
		{"providers/docker", "config", false},
		{"providers/docker", "providers", true},
		{"providers/newengine", "web", false},
		{"providers/docker", "providers/gce", false},
		{"providers/kinds", "providers/newengine", true},
		{"config", "providers", true},
		{"config", "providers/docker", false},
		{"store/redis", "controller", true},
		{"web", "config", false},
		{"activity", "config", false},
		{"hold", "config", false},
		{"guard", "config", false},
		{"cmd/waitingroom", "config", true},
	}
	for _, tt := range tests {
		rules, ok := rule(tt.pkg)
		if !ok {
			t.Fatalf("%s not placed", tt.pkg)
		}
		if got := permitted(rules, tt.imp); got != tt.want {
			t.Errorf("%s -> %s permitted %v, want %v (rules %v)", tt.pkg, tt.imp, got, tt.want, rules)
		}
	}
}
