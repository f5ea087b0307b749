package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCommandsExplainEveryFailure(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("providers:\n  local:\n    type: exec\nhosts:\n  - host: app.example.com\n    provider: local\n    start: [\"true\"]\n    stop: [\"true\"]\n    ready_url: http://127.0.0.1:1/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("hosts:\n  - host: app.example.com\n    provider: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"validate ok", []string{"validate", "--config", good}, 0, "ok (1 host, 1 provider)", ""},
		{"validate bad file", []string{"validate", "--config", bad}, 1, "", "bad.yaml:3"},
		{"validate stray argument", []string{"validate", "--config", good, "extra"}, 2, "", "unexpected arguments: [extra]"},
		{"validate unknown flag", []string{"validate", "--nope"}, 2, "", "flag provided but not defined"},
		{"traefik stray argument", []string{"traefik", "--config", good, "extra"}, 2, "", "waitingroom traefik: unexpected arguments"},
		{"traefik bad file", []string{"traefik", "--config", bad}, 1, "", "bad.yaml:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), tt.args, strings.NewReader(""), &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, errOut.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.stdout)
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.stderr)
			}
		})
	}
}
