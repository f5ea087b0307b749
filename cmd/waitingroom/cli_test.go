package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each friction a newcomer met at the command line, and what they now
// see instead.
func TestCommandLineFrictions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "providers:\n  local:\n    type: exec\nhosts:\n  - host: app.example.com\n    provider: local\n    start: [\"true\"]\n    stop: [\"true\"]\n    ready_url: http://127.0.0.1:1/\n")
	empty := write("empty.yaml", "")
	comments := write("comments.yaml", "# listen: \":8080\"\n# hosts: []\n")
	indent := write("indent.yaml", "providers:\n  local: {type: exec}\nhosts:\n  - host: app.example.com\n    provider: local\n   start: [\"true\"]\n")
	withPort := write("port.yaml", "providers:\n  local: {type: exec}\nhosts:\n  - host: app.localhost:8080\n    provider: local\n    start: [\"true\"]\n    stop: [\"true\"]\n")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	inUse := write("inuse.yaml", "listen: \""+busy.Addr().String()+"\"\nadmin:\n  listen: 127.0.0.1:0\nproviders:\n  local: {type: exec}\n")

	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
		notStderr      string
	}{
		{name: "--help", args: []string{"--help"}, stdout: "usage: waitingroom <command>", notStderr: "Usage of serve"},
		{name: "-h", args: []string{"-h"}, stdout: "usage: waitingroom <command>", notStderr: "Usage of serve"},
		{name: "serve -h", args: []string{"serve", "-h"}, stderr: "usage: waitingroom serve", notStderr: "Usage of"},
		{name: "validate -h", args: []string{"validate", "-h"}, stderr: "usage: waitingroom validate --config FILE"},
		{name: "validate FILE suggests --config", args: []string{"validate", good}, code: 2, stderr: "waitingroom validate --config " + good},
		{name: "serve FILE suggests --config", args: []string{"serve", good}, code: 2, stderr: "waitingroom serve --config " + good},
		{name: "a stray word is not taken for a file", args: []string{"validate", "--config", good, "extra"}, code: 2, stderr: "unexpected arguments: [extra]", notStderr: "--config extra"},
		{name: "empty file refused by validate", args: []string{"validate", "--config", empty}, code: 1, stderr: "has no settings"},
		{name: "comment-only file refused by validate", args: []string{"validate", "--config", comments}, code: 1, stderr: "has no settings"},
		{name: "empty file refused by serve", args: []string{"serve", "--config", empty}, code: 1, stderr: "has no settings"},
		{name: "wrong indentation names the line", args: []string{"validate", "--config", indent}, code: 1, stderr: "indent.yaml:6: bad indentation: indented 3 spaces"},
		{name: "a port in a host is refused", args: []string{"validate", "--config", withPort}, code: 1, stderr: `port.yaml:4: host "app.localhost:8080": a port is not part of a hostname`},
		{name: "one host, one provider", args: []string{"validate", "--config", good}, stdout: "ok (1 host, 1 provider)"},
		{name: "bad log level lists the levels", args: []string{"serve", "--config", good, "--log-level", "loud"}, code: 2, stderr: `--log-level "loud": want debug, info, warn or error`},
		{name: "port in use names the line", args: []string{"serve", "--config", inUse}, code: 1, stderr: "inuse.yaml:1: listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), tt.args, strings.NewReader(""), &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %q; stderr %q", code, tt.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.stdout)
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.stderr)
			}
			if tt.notStderr != "" && strings.Contains(errOut.String()+out.String(), tt.notStderr) {
				t.Errorf("output %q has %q", errOut.String()+out.String(), tt.notStderr)
			}
		})
	}
}

// hash-password prompts only a terminal: /dev/null is a character device
// but no terminal, and must get no prompt.
func TestHashPasswordPromptsOnlyATerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	tests := []struct {
		name  string
		stdin *os.File
	}{{"/dev/null", null}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), []string{"hash-password", "-cost", "4"}, tt.stdin, &out, &errOut)
			if code != 1 || strings.Contains(errOut.String(), "Password") || !strings.Contains(errOut.String(), "no password") {
				t.Errorf("exit %d, stderr %q; want 1, no prompt, \"no password\"", code, errOut.String())
			}
		})
	}
}
